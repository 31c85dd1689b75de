#include "nra/base/http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace nra::http {

struct Server::Conn {
    Fd fd;
    std::string in;
    std::string out;
    std::size_t sent = 0;
    bool answered = false;
    EventLoop::TimerId deadline = 0;
    std::list<std::unique_ptr<Conn>>::iterator self;
};

namespace {

bool is_token_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

}  // namespace

std::string_view status_text(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

Result<Request> parse_request_head(std::string_view head) {
    const auto eol = head.find('\n');
    std::string_view line = head.substr(0, eol);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // method SP request-target SP HTTP/1.x
    const auto sp1 = line.find(' ');
    if (sp1 == std::string_view::npos || sp1 == 0) return Result<Request>::fail("malformed request line");
    const auto sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return Result<Request>::fail("malformed request line");
    Request r;
    r.method = std::string(line.substr(0, sp1));
    for (char c : r.method)
        if (!is_token_char(c)) return Result<Request>::fail("malformed request method");
    r.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
    const std::string_view version = line.substr(sp2 + 1);
    if (version != "HTTP/1.1" && version != "HTTP/1.0") return Result<Request>::fail("unsupported HTTP version");
    if (r.target.empty() || r.target[0] != '/') return Result<Request>::fail("request target is not a path");
    for (unsigned char c : r.target)
        if (c <= ' ' || c >= 0x7f) return Result<Request>::fail("malformed request target");
    r.path = r.target.substr(0, r.target.find('?'));
    // Header fields: checked for shape only (none of them changes the answer).
    std::string_view rest = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 1);
    while (!rest.empty()) {
        const auto n = rest.find('\n');
        std::string_view field = rest.substr(0, n);
        rest = n == std::string_view::npos ? std::string_view{} : rest.substr(n + 1);
        if (!field.empty() && field.back() == '\r') field.remove_suffix(1);
        if (field.empty()) break;
        const auto colon = field.find(':');
        if (colon == std::string_view::npos || colon == 0) return Result<Request>::fail("malformed header field");
        for (char c : field.substr(0, colon))
            if (!is_token_char(c)) return Result<Request>::fail("malformed header field name");
    }
    return Result<Request>::ok(std::move(r));
}

Result<ListenAddress> parse_listen_address(std::string_view text) {
    using R = Result<ListenAddress>;
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return R::fail("expected HOST:PORT, :PORT or [IPV6]:PORT");
    ListenAddress a;
    std::string_view host = text.substr(0, colon);
    const std::string_view port = text.substr(colon + 1);
    if (port.empty() || port.size() > 5) return R::fail("invalid port '" + std::string(port) + "'");
    unsigned long p = 0;
    for (char c : port) {
        if (c < '0' || c > '9') return R::fail("invalid port '" + std::string(port) + "'");
        p = p * 10 + static_cast<unsigned>(c - '0');
    }
    if (p > 65535) return R::fail("port " + std::string(port) + " out of range (0-65535)");
    a.port = static_cast<std::uint16_t>(p);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
        in6_addr v6;
        if (inet_pton(AF_INET6, std::string(host).c_str(), &v6) != 1)
            return R::fail("invalid IPv6 address '" + std::string(host) + "'");
    } else if (!host.empty()) {
        in_addr v4;
        if (inet_pton(AF_INET, std::string(host).c_str(), &v4) != 1)
            return R::fail("invalid IPv4 address '" + std::string(host) +
                           "' (IPv6 goes in brackets; names are not resolved)");
    }
    a.host = std::string(host);
    return R::ok(std::move(a));
}

Server::Server(EventLoop& loop, Handler handler, Limits limits)
    : loop_(loop), handler_(std::move(handler)), limits_(limits) {}

Server::~Server() {
    while (!conns_.empty()) close(*conns_.front());
    if (listen_fd_) loop_.remove(listen_fd_.get());
}

void Server::listen(const ListenAddress& address) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    int family = AF_INET6;
    if (!address.host.empty() && address.host.find(':') == std::string::npos) {
        family = AF_INET;
        auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(address.port);
        inet_pton(AF_INET, address.host.c_str(), &sin->sin_addr);
        len = sizeof *sin;
    } else {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(address.port);
        if (address.host.empty())
            sin6->sin6_addr = in6addr_any;
        else
            inet_pton(AF_INET6, address.host.c_str(), &sin6->sin6_addr);
        len = sizeof *sin6;
    }
    const std::string what =
        "listen on " + (address.host.empty() ? std::string("*") : address.host) + ":" + std::to_string(address.port);
    Fd fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd && family == AF_INET6 && address.host.empty() && errno == EAFNOSUPPORT) {
        // A kernel without IPv6: every IPv4 address instead.
        family = AF_INET;
        auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
        *sin = sockaddr_in{};
        sin->sin_family = AF_INET;
        sin->sin_port = htons(address.port);
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
        len = sizeof *sin;
        fd.reset(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    }
    if (!fd) throw std::system_error(errno, std::generic_category(), what + ": socket");
    int one = 1, zero = 0;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (family == AF_INET6 && address.host.empty())  // ":PORT" = both families
        ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) < 0)
        throw std::system_error(errno, std::generic_category(), what + ": bind");
    if (::listen(fd.get(), 128) < 0) throw std::system_error(errno, std::generic_category(), what + ": listen");
    sockaddr_storage bound{};
    socklen_t blen = sizeof bound;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &blen);
    port_ = ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                             : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
    listen_fd_ = std::move(fd);
    loop_.add(listen_fd_.get(), EPOLLIN, [this](std::uint32_t) { on_accept(); });
}

void Server::on_accept() {
    // A bounded number per round, so a connect flood cannot hog the loop.
    for (int i = 0; i < 64; ++i) {
        Fd fd(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd) return;  // EAGAIN, or a transient error (ECONNABORTED, EMFILE): try on the next event
        if (conns_.size() >= limits_.max_connections) {
            close(*conns_.front());
            ++evicted_;
        }
        auto c = std::make_unique<Conn>();
        c->fd = std::move(fd);
        Conn& ref = *c;
        conns_.push_back(std::move(c));
        ref.self = std::prev(conns_.end());
        ref.deadline = loop_.after(limits_.request_timeout, [this, &ref] {
            ref.deadline = 0;
            close(ref);
        });
        loop_.add(ref.fd.get(), EPOLLIN | EPOLLRDHUP, [this, &ref](std::uint32_t ev) { on_io(ref, ev); });
    }
}

void Server::on_io(Conn& c, std::uint32_t events) {
    if (c.answered) {
        if (events & (EPOLLERR | EPOLLHUP)) return close(c);
        return flush(c);
    }
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(c.fd.get(), buf, sizeof buf);
        if (n > 0) {
            c.in.append(buf, static_cast<std::size_t>(n));
            const auto end = c.in.find("\r\n\r\n");
            const auto end_lf = c.in.find("\n\n");
            if (end != std::string::npos || end_lf != std::string::npos) {
                const std::size_t head_len = std::min(end == std::string::npos ? c.in.size() : end + 4,
                                                      end_lf == std::string::npos ? c.in.size() : end_lf + 2);
                if (head_len > limits_.max_request_head)
                    return respond(c, {431, "text/plain; charset=utf-8", "request head too large\n"}, false);
                auto req = parse_request_head(std::string_view(c.in).substr(0, head_len));
                if (!req) return respond(c, {400, "text/plain; charset=utf-8", req.error + "\n"}, false);
                const bool head_only = req.value->method == "HEAD";
                if (req.value->method != "GET" && !head_only)
                    return respond(c, {405, "text/plain; charset=utf-8", "only GET and HEAD\n"}, false);
                return respond(c, handler_(*req.value), head_only);
            }
            if (c.in.size() > limits_.max_request_head)
                return respond(c, {431, "text/plain; charset=utf-8", "request head too large\n"}, false);
            continue;
        }
        if (n == 0) return close(c);  // the client went away before a whole request
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        return close(c);
    }
}

void Server::respond(Conn& c, const Response& r, bool head_only) {
    c.answered = true;
    c.in.clear();
    c.in.shrink_to_fit();
    std::string& out = c.out;
    out = "HTTP/1.1 " + std::to_string(r.status) + " " + std::string(status_text(r.status)) + "\r\n";
    out += "Content-Type: " + r.content_type + "\r\n";
    out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
    out += "Connection: close\r\n\r\n";
    if (!head_only) out += r.body;
    loop_.modify(c.fd.get(), EPOLLOUT | EPOLLRDHUP);
    flush(c);
}

void Server::flush(Conn& c) {
    while (c.sent < c.out.size()) {
        const ssize_t n = ::send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
        if (n > 0) {
            c.sent += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // EPOLLOUT brings us back
        return close(c);
    }
    ::shutdown(c.fd.get(), SHUT_WR);
    close(c);
}

void Server::close(Conn& c) {
    if (c.deadline) loop_.cancel(c.deadline);
    loop_.remove(c.fd.get());
    conns_.erase(c.self);  // destroys c (and closes its socket)
}

}  // namespace nra::http
