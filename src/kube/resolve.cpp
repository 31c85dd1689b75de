#include "nra/kube/resolve.hpp"

#include <ares.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/epoll.h>

#include <cstring>
#include <mutex>
#include <set>
#include <stdexcept>

#include "nra/base/loop.hpp"

namespace nra::kube {

std::string Address::text() const {
    char buf[INET6_ADDRSTRLEN] = "?";
    if (ss.ss_family == AF_INET) {
        const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
        ::inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
        return std::string(buf) + ":" + std::to_string(ntohs(a->sin_port));
    }
    if (ss.ss_family == AF_INET6) {
        const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
        ::inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
        return "[" + std::string(buf) + "]:" + std::to_string(ntohs(a->sin6_port));
    }
    return "?";
}

std::vector<Address> numeric_addresses(const std::string& host, std::uint16_t port) {
    // AI_NUMERICHOST: no lookup of any kind (handles IPv6 zone ids too).
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    std::vector<Address> out;
    if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0) return out;
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
        Address a;
        std::memcpy(&a.ss, ai->ai_addr, ai->ai_addrlen);
        a.len = static_cast<socklen_t>(ai->ai_addrlen);
        out.push_back(a);
    }
    ::freeaddrinfo(res);
    return out;
}

std::vector<Address> interleave_families(const std::vector<Address>& addrs) {
    if (addrs.empty()) return {};
    const int first = addrs.front().family();
    std::vector<Address> a, b;
    for (const auto& x : addrs) (x.family() == first ? a : b).push_back(x);
    std::vector<Address> out;
    for (std::size_t i = 0; i < a.size() || i < b.size(); ++i) {
        if (i < a.size()) out.push_back(a[i]);
        if (i < b.size()) out.push_back(b[i]);
    }
    return out;
}

struct Resolver::Lookup {
    Resolver* owner = nullptr;
    ares_channel ch = nullptr;
    std::string host;
    std::uint16_t port = 0;
    Done done;
    std::set<int> fds;
    EventLoop::TimerId timer = 0, deliver = 0;
    std::vector<Address> addrs;
    std::string error;
    bool answered = false;
};

namespace {

void rearm(Resolver::Lookup* l);

}  // namespace

// Friends in all but name: these only touch Lookup's public members.
namespace {

EventLoop& loop_of(Resolver::Lookup* l);

void process(Resolver::Lookup* l, ares_socket_t rfd, ares_socket_t wfd) {
    ares_process_fd(l->ch, rfd, wfd);
    rearm(l);
}

void rearm(Resolver::Lookup* l) {
    EventLoop& loop = loop_of(l);
    if (l->timer) loop.cancel(l->timer);
    l->timer = 0;
    if (l->answered) return;
    timeval tv{};
    if (!ares_timeout(l->ch, nullptr, &tv)) return;
    const auto d = std::chrono::milliseconds(tv.tv_sec * 1000 + tv.tv_usec / 1000 + 1);
    l->timer = loop.after(d, [l] {
        l->timer = 0;
        process(l, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    });
}

void sock_state(void* data, ares_socket_t fd, int readable, int writable) {
    auto* l = static_cast<Resolver::Lookup*>(data);
    EventLoop& loop = loop_of(l);
    if (!readable && !writable) {
        if (l->fds.erase(fd)) loop.remove(fd);
        return;
    }
    const std::uint32_t events = (readable ? EPOLLIN : 0u) | (writable ? EPOLLOUT : 0u);
    if (l->fds.count(fd)) {
        loop.modify(fd, events);
        return;
    }
    loop.add(fd, events, [l, fd](std::uint32_t ev) {
        process(l, (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) ? fd : ARES_SOCKET_BAD,
                (ev & EPOLLOUT) ? fd : ARES_SOCKET_BAD);
    });
    l->fds.insert(fd);
}

}  // namespace

class ResolverAccess {
public:
    static EventLoop& loop(Resolver::Lookup* l) { return l->owner->loop_; }
    static void finish(Resolver::Lookup* l) { l->owner->finish(l); }
};

namespace {

EventLoop& loop_of(Resolver::Lookup* l) { return ResolverAccess::loop(l); }

void on_answer(void* arg, int status, int timeouts, ares_addrinfo* res) {
    auto* l = static_cast<Resolver::Lookup*>(arg);
    if (l->answered) {
        if (res) ares_freeaddrinfo(res);
        return;
    }
    l->answered = true;
    if (status == ARES_SUCCESS && res) {
        for (ares_addrinfo_node* n = res->nodes; n; n = n->ai_next) {
            if (!n->ai_addr || n->ai_addrlen > static_cast<int>(sizeof(sockaddr_storage))) continue;
            if (n->ai_family != AF_INET && n->ai_family != AF_INET6) continue;
            Address a;
            std::memcpy(&a.ss, n->ai_addr, static_cast<std::size_t>(n->ai_addrlen));
            a.len = static_cast<socklen_t>(n->ai_addrlen);
            if (a.family() == AF_INET)
                reinterpret_cast<sockaddr_in*>(&a.ss)->sin_port = htons(l->port);
            else
                reinterpret_cast<sockaddr_in6*>(&a.ss)->sin6_port = htons(l->port);
            l->addrs.push_back(a);
        }
        if (l->addrs.empty()) l->error = "cannot resolve " + l->host + ": no IPv4 or IPv6 address";
    } else {
        l->error = "cannot resolve " + l->host + ": " + ares_strerror(status);
        if (timeouts > 0) l->error += " (" + std::to_string(timeouts) + " DNS timeouts)";
    }
    if (res) ares_freeaddrinfo(res);
    // Delivered from the loop, outside c-ares (the channel is destroyed there).
    l->deliver = loop_of(l).after(std::chrono::milliseconds(0), [l] {
        l->deliver = 0;
        ResolverAccess::finish(l);
    });
}

}  // namespace

Resolver::Resolver(EventLoop& loop, Options opts) : loop_(loop), opts_(opts) {
    static std::once_flag once;
    static int init_status = ARES_SUCCESS;
    std::call_once(once, [] { init_status = ares_library_init(ARES_LIB_INIT_ALL); });
    if (init_status != ARES_SUCCESS) throw std::runtime_error(std::string("c-ares: ") + ares_strerror(init_status));
}

Resolver::~Resolver() {
    for (auto& l : lookups_) {
        l->answered = true;  // ares_destroy's ARES_EDESTRUCTION callbacks are ignored
        if (l->timer) loop_.cancel(l->timer);
        if (l->deliver) loop_.cancel(l->deliver);
        l->timer = l->deliver = 0;
        if (l->ch) ares_destroy(l->ch);
        for (int fd : l->fds) loop_.remove(fd);
    }
}

void Resolver::resolve(const std::string& host, std::uint16_t port, Done done) {
    auto owned = std::make_unique<Lookup>();
    Lookup* l = owned.get();
    l->owner = this;
    l->host = host;
    l->port = port;
    l->done = std::move(done);
    lookups_.push_back(std::move(owned));

    ares_options o{};
    o.sock_state_cb = sock_state;
    o.sock_state_cb_data = l;
    o.timeout = static_cast<int>(opts_.timeout.count());
    o.tries = opts_.tries;
    const int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    // A fresh channel per lookup: /etc/resolv.conf is read now (a local file).
    if (int rc = ares_init_options(&l->ch, &o, mask); rc != ARES_SUCCESS) {
        l->ch = nullptr;
        l->answered = true;
        l->error = "cannot resolve " + host + ": c-ares: " + ares_strerror(rc);
        l->deliver = loop_.after(std::chrono::milliseconds(0), [l] {
            l->deliver = 0;
            ResolverAccess::finish(l);
        });
        return;
    }
    if (!opts_.servers.empty()) ares_set_servers_ports_csv(l->ch, opts_.servers.c_str());
    ares_addrinfo_hints hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = ARES_AI_NOSORT;  // the order of /etc/hosts or the DNS answer
    ares_getaddrinfo(l->ch, host.c_str(), nullptr, &hints, on_answer, l);
    rearm(l);
}

void Resolver::finish(Lookup* l) {
    if (l->timer) loop_.cancel(l->timer);
    l->timer = 0;
    if (l->ch) ares_destroy(l->ch);  // closes its sockets through sock_state
    l->ch = nullptr;
    for (int fd : l->fds) loop_.remove(fd);
    Done done = std::move(l->done);
    std::vector<Address> addrs = std::move(l->addrs);
    std::string error = std::move(l->error);
    for (auto it = lookups_.begin(); it != lookups_.end(); ++it) {
        if (it->get() == l) {
            lookups_.erase(it);
            break;
        }
    }
    if (done) done(std::move(addrs), error);
}

}  // namespace nra::kube
