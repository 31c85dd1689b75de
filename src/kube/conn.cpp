#include "nra/kube/conn.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "nra/base/loop.hpp"
#include "nra/kube/proxy.hpp"

namespace nra::kube {

namespace {

struct BioFree {
    void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

BioPtr mem_bio(const std::string& pem) { return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))); }

}  // namespace

std::string openssl_errors() {
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out.empty() ? "unknown TLS error" : out;
}

TlsContext::TlsContext(const ApiConfig& cfg) {
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    if (!ctx_) throw std::runtime_error("TLS: cannot create context: " + openssl_errors());
    SSL_CTX_set_min_proto_version(ctx_.get(), TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx_.get(),
                     SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    // A peer closing the TCP connection without close_notify is an ordinary
    // EOF here; the HTTP layer knows whether the response was complete.
    SSL_CTX_set_options(ctx_.get(), SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
    static const unsigned char alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(ctx_.get(), alpn, sizeof alpn);

    if (!cfg.insecure) {
        if (!cfg.ca_pem.empty()) {
            X509_STORE* store = SSL_CTX_get_cert_store(ctx_.get());
            BioPtr bio = mem_bio(cfg.ca_pem);
            int n = 0;
            while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
                X509_STORE_add_cert(store, x);
                X509_free(x);
                ++n;
            }
            ERR_clear_error();  // the loop ends with a "no start line" error
            if (n == 0) {
                ctx_.reset();
                throw std::runtime_error("TLS: no PEM certificate in CA " + cfg.ca_origin);
            }
        } else {
            SSL_CTX_set_default_verify_paths(ctx_.get());
        }
    }
    if (!cfg.client_cert_pem.empty()) {
        BioPtr bio = mem_bio(cfg.client_cert_pem);
        X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
        bool ok = cert && SSL_CTX_use_certificate(ctx_.get(), cert) == 1;
        X509_free(cert);
        while (ok) {  // the rest of the file is the chain
            X509* extra = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
            if (!extra) break;
            if (SSL_CTX_add_extra_chain_cert(ctx_.get(), extra) != 1) X509_free(extra);
        }
        ERR_clear_error();
        BioPtr kbio = mem_bio(cfg.client_key_pem);
        EVP_PKEY* key = ok ? PEM_read_bio_PrivateKey(kbio.get(), nullptr, nullptr, nullptr) : nullptr;
        ok = key && SSL_CTX_use_PrivateKey(ctx_.get(), key) == 1 && SSL_CTX_check_private_key(ctx_.get()) == 1;
        EVP_PKEY_free(key);
        if (!ok) {
            const std::string why = openssl_errors();
            ctx_.reset();
            throw std::runtime_error("TLS: unusable client certificate/key: " + why);
        }
    }
}

TlsContext::~TlsContext() = default;

void TlsContext::CtxFree::operator()(SSL_CTX* c) const { SSL_CTX_free(c); }

void Connection::SslFree::operator()(SSL* s) const { SSL_free(s); }

Connection::Connection(EventLoop& loop, const ApiConfig& cfg, std::shared_ptr<const TlsContext> tls)
    : loop_(loop), cfg_(cfg), tls_(std::move(tls)) {}

Connection::~Connection() { teardown(); }

std::shared_ptr<Connection> Connection::open(EventLoop& loop, const ApiConfig& cfg,
                                             std::shared_ptr<const TlsContext> tls, std::vector<Address> addrs,
                                             std::string& error, std::chrono::milliseconds per_address,
                                             std::string user_agent) {
    auto c = std::make_shared<Connection>(loop, cfg, std::move(tls));
    c->user_agent_ = std::move(user_agent);
    c->addrs_ = std::move(addrs);
    c->per_address_ = per_address;
    if (!c->connect_next(error)) return nullptr;
    return c;
}

void Connection::cancel_attempt_timer() {
    if (attempt_timer_) loop_.cancel(attempt_timer_);
    attempt_timer_ = 0;
}

void Connection::next_address(std::string why) {
    cancel_attempt_timer();
    last_connect_error_ = std::move(why);
    loop_.remove(fd_.get());
    fd_.reset();
    std::string error;
    if (!connect_next(error)) fail(error);
}

bool Connection::connect_next(std::string& error) {
    while (next_addr_ < addrs_.size()) {
        const Address& addr = addrs_[next_addr_];
        const auto& sa = addr.ss;
        const socklen_t len = addr.len;
        ++next_addr_;
        int fd = ::socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            last_connect_error_ = std::string("socket: ") + std::strerror(errno);
            continue;
        }
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
        int idle = 30, intvl = 10, cnt = 3;  // a dead peer is noticed in about a minute
        ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
        ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
        ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
        if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), len) < 0 && errno != EINPROGRESS) {
            last_connect_error_ = "connect to " + addr.text() + ": " + std::strerror(errno);
            ::close(fd);
            continue;
        }
        fd_.reset(fd);
        state_ = State::Connecting;
        interest_ = EPOLLOUT;
        std::weak_ptr<Connection> weak = weak_from_this();
        loop_.add(fd_.get(), interest_, [weak](std::uint32_t ev) {
            if (auto self = weak.lock()) self->on_events(ev);
        });
        const std::string target = addr.text();
        const auto limit = per_address_;
        attempt_timer_ = loop_.after(per_address_, [weak, target, limit] {
            auto self = weak.lock();
            if (!self) return;
            self->attempt_timer_ = 0;
            if (self->state_ != State::Connecting || !self->fd_) return;
            self->next_address("connect to " + target + ": no answer within " + std::to_string(limit.count()) + " ms");
        });
        return true;
    }
    error = "cannot connect to " +
            (cfg_.proxy ? "proxy " + cfg_.proxy->display + " (for " + cfg_.url() + ")" : cfg_.url()) + ": " +
            (last_connect_error_.empty() ? "no address" : last_connect_error_);
    return false;
}

void Connection::send(std::string_view bytes) {
    if (state_ == State::Closed) return;
    wbuf_.append(bytes);
    if (state_ == State::Open) flush();
}

void Connection::close() {
    h_ = {};
    teardown();
}

void Connection::teardown() {
    if (state_ == State::Closed && !fd_) return;
    state_ = State::Closed;
    cancel_attempt_timer();
    ssl_.reset();
    if (fd_) {
        loop_.remove(fd_.get());
        fd_.reset();
    }
    wbuf_.clear();
}

void Connection::fail(std::string error) {
    if (state_ == State::Closed) return;
    auto handler = std::move(h_.on_close);
    h_ = {};
    teardown();
    if (handler) handler(error);
}

void Connection::on_events(std::uint32_t events) {
    auto self = shared_from_this();  // handlers may drop the last owner
    switch (state_) {
    case State::Closed:
        return;
    case State::Connecting: {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            next_address("connect to " + addrs_[next_addr_ - 1].text() + ": " + std::strerror(err));
            return;
        }
        cancel_attempt_timer();
        connected_ = true;
        on_connected();
        return;
    }
    case State::Tunneling:
        tunnel(events);
        return;
    case State::Handshaking:
        handshake();
        return;
    case State::Open:
        if ((events & EPOLLOUT) || (write_wants_read_ && (events & EPOLLIN))) flush();
        if (state_ == State::Open && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) read_some();
        if (state_ == State::Open && read_wants_write_ && (events & EPOLLOUT)) read_some();
        return;
    }
}

void Connection::on_connected() {
    if (!cfg_.tls) {  // through a proxy too: the request goes to it in absolute form
        state_ = State::Open;
        update_interest();
        if (h_.on_open) h_.on_open();
        if (state_ == State::Open) flush();
        return;
    }
    if (cfg_.proxy) {
        state_ = State::Tunneling;
        tunnel_out_ = build_connect(cfg_, user_agent_);
        tunnel(EPOLLOUT);
        return;
    }
    start_tls();
}

// CONNECT through the proxy: write the request, read the reply's headers
// (nothing more: the API server speaks only after the ClientHello).
void Connection::tunnel(std::uint32_t events) {
    auto self = shared_from_this();
    const std::string proxy = "proxy " + cfg_.proxy->display;
    if (events & EPOLLERR) return fail(proxy + ": connection error during CONNECT");
    while (!tunnel_out_.empty()) {
        const ssize_t n = ::send(fd_.get(), tunnel_out_.data(), tunnel_out_.size(), MSG_NOSIGNAL);
        if (n > 0) {
            tunnel_out_.erase(0, static_cast<std::size_t>(n));
            continue;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return fail(proxy + ": write: " + std::strerror(errno));
    }
    const std::uint32_t want = tunnel_out_.empty() ? EPOLLIN : EPOLLOUT;
    if (want != interest_) {
        interest_ = want;
        loop_.modify(fd_.get(), interest_);
    }
    if (!tunnel_out_.empty()) return;
    char buf[4096];
    while (true) {
        const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
        if (n > 0) {
            tunnel_in_.append(buf, static_cast<std::size_t>(n));
            const auto end = tunnel_in_.find("\r\n\r\n");
            if (end == std::string::npos) {
                if (tunnel_in_.size() > kMaxProxyReply)
                    return fail(proxy + ": CONNECT reply headers exceed " + std::to_string(kMaxProxyReply) + " bytes");
                continue;
            }
            std::string reason;
            const int code = parse_connect_status(tunnel_in_, reason);
            if (code == 0) return fail(proxy + ": not an HTTP reply to CONNECT");
            if (code != 200)
                return fail(proxy + " refused CONNECT to " + cfg_.host_header() + ": HTTP " + std::to_string(code) +
                            (reason.empty() ? "" : " " + reason));
            if (end + 4 != tunnel_in_.size()) return fail(proxy + ": data after its CONNECT reply");
            tunnel_in_.clear();
            tunnel_in_.shrink_to_fit();
            return start_tls();
        }
        if (n == 0) return fail(proxy + ": closed the connection during CONNECT");
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        return fail(proxy + ": read: " + std::strerror(errno));
    }
}

void Connection::start_tls() {
    ssl_.reset(SSL_new(tls_->get()));
    if (!ssl_) return fail("TLS: " + openssl_errors());
    SSL_set_fd(ssl_.get(), fd_.get());
    SSL_set_connect_state(ssl_.get());
    const std::string& name = cfg_.server_name.empty() ? cfg_.host : cfg_.server_name;
    unsigned char buf[16];
    const bool name_is_ip = inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
    if (!name_is_ip) SSL_set_tlsext_host_name(ssl_.get(), name.c_str());  // no SNI for IP literals (RFC 6066)
    if (!cfg_.insecure) {
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl_.get());
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        const int ok = name_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                                  : X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
        if (ok != 1) return fail("TLS: cannot set the verification name '" + name + "'");
        SSL_set_verify(ssl_.get(), SSL_VERIFY_PEER, nullptr);
    } else {
        SSL_set_verify(ssl_.get(), SSL_VERIFY_NONE, nullptr);
    }
    state_ = State::Handshaking;
    handshake();
}

void Connection::handshake() {
    ERR_clear_error();
    const int rc = SSL_do_handshake(ssl_.get());
    if (rc == 1) {
        state_ = State::Open;
        update_interest();
        if (h_.on_open) h_.on_open();
        if (state_ == State::Open) flush();
        if (state_ == State::Open) read_some();  // data may already be buffered
        return;
    }
    const int err = SSL_get_error(ssl_.get(), rc);
    if (err == SSL_ERROR_WANT_READ) {
        interest_ = EPOLLIN;
        loop_.modify(fd_.get(), interest_);
        return;
    }
    if (err == SSL_ERROR_WANT_WRITE) {
        interest_ = EPOLLIN | EPOLLOUT;
        loop_.modify(fd_.get(), interest_);
        return;
    }
    std::string why;
    const long verify = SSL_get_verify_result(ssl_.get());
    if (verify != X509_V_OK) {
        why = std::string("certificate verification failed: ") + X509_verify_cert_error_string(verify);
        ERR_clear_error();
    } else if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        why = errno ? std::strerror(errno) : "connection closed during the handshake";
    } else {
        why = openssl_errors();
    }
    fail("TLS handshake with " + cfg_.url() + " failed: " + why);
}

void Connection::read_some() {
    auto self = shared_from_this();
    char buf[64 * 1024];
    read_wants_write_ = false;
    while (state_ == State::Open) {
        if (!ssl_) {
            const ssize_t n = ::read(fd_.get(), buf, sizeof buf);
            if (n > 0) {
                if (h_.on_data) h_.on_data(std::string_view(buf, static_cast<std::size_t>(n)));
                continue;
            }
            if (n == 0) return fail("");
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            return fail(std::string("read: ") + std::strerror(errno));
        }
        ERR_clear_error();
        const int n = SSL_read(ssl_.get(), buf, sizeof buf);
        if (n > 0) {
            if (h_.on_data) h_.on_data(std::string_view(buf, static_cast<std::size_t>(n)));
            continue;
        }
        const int err = SSL_get_error(ssl_.get(), n);
        if (err == SSL_ERROR_WANT_READ) break;
        if (err == SSL_ERROR_WANT_WRITE) {
            read_wants_write_ = true;
            break;
        }
        if (err == SSL_ERROR_ZERO_RETURN) return fail("");
        if (err == SSL_ERROR_SYSCALL) {
            if (ERR_peek_error() == 0)
                return fail(errno ? std::string("read: ") + std::strerror(errno) : std::string());
        }
        return fail("TLS read: " + openssl_errors());
    }
    if (state_ == State::Open) update_interest();
}

void Connection::flush() {
    write_wants_read_ = false;
    while (state_ == State::Open && !wbuf_.empty()) {
        if (!ssl_) {
            const ssize_t n = ::send(fd_.get(), wbuf_.data(), wbuf_.size(), MSG_NOSIGNAL);
            if (n > 0) {
                wbuf_.erase(0, static_cast<std::size_t>(n));
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            return fail(std::string("write: ") + std::strerror(errno));
        }
        ERR_clear_error();
        const int n = SSL_write(ssl_.get(), wbuf_.data(), static_cast<int>(wbuf_.size()));
        if (n > 0) {
            wbuf_.erase(0, static_cast<std::size_t>(n));
            continue;
        }
        const int err = SSL_get_error(ssl_.get(), n);
        if (err == SSL_ERROR_WANT_WRITE) break;
        if (err == SSL_ERROR_WANT_READ) {
            write_wants_read_ = true;
            break;
        }
        if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
            return fail(std::string("write: ") + (errno ? std::strerror(errno) : "connection closed"));
        return fail("TLS write: " + openssl_errors());
    }
    if (state_ == State::Open) update_interest();
}

void Connection::update_interest() {
    std::uint32_t want = EPOLLIN;
    if ((!wbuf_.empty() && !write_wants_read_) || read_wants_write_) want |= EPOLLOUT;
    if (want != interest_) {
        interest_ = want;
        loop_.modify(fd_.get(), interest_);
    }
}

}  // namespace nra::kube
