// One TCP (+TLS) connection to the API server, driven by the event loop:
// non-blocking connect, non-blocking OpenSSL handshake, buffered writes and
// reads delivered to a handler. No HTTP here.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "nra/kube/config.hpp"
#include "nra/kube/resolve.hpp"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

#include "nra/base/fd.hpp"

namespace nra {
class EventLoop;
}

namespace nra::kube {

// SSL_CTX built from an ApiConfig: TLS 1.2+, ALPN http/1.1, the configured CA
// bundle (system roots only when the kubeconfig names none), client cert.
class TlsContext {
public:
    explicit TlsContext(const ApiConfig& cfg);  // throws std::runtime_error
    ~TlsContext();
    TlsContext(const TlsContext&) = delete;
    TlsContext& operator=(const TlsContext&) = delete;
    SSL_CTX* get() const { return ctx_.get(); }

private:
    struct CtxFree {
        void operator()(SSL_CTX* c) const;
    };
    std::unique_ptr<SSL_CTX, CtxFree> ctx_;
};

// The most recent OpenSSL errors as text (drains the error queue).
std::string openssl_errors();

class Connection : public std::enable_shared_from_this<Connection> {
public:
    struct Handlers {
        std::function<void()> on_open;  // TLS established: writes flow
        std::function<void(std::string_view)> on_data;
        std::function<void(const std::string& error)> on_close;  // "" = orderly EOF; never after close()
    };

    // Connects to `addrs` in order (resolved beforehand: ApiClient; the
    // proxy's when cfg.proxy is set), each address with its own deadline
    // (`per_address`), the next one tried when it fails or the deadline
    // passes. Through a proxy to an https server, a CONNECT tunnel is opened
    // first (its refusal is an error naming the proxy and the status), then
    // TLS runs through it. Returns nullptr and sets `error` on immediate
    // failure. The connection keeps `tls` alive.
    static std::shared_ptr<Connection> open(EventLoop& loop, const ApiConfig& cfg,
                                            std::shared_ptr<const TlsContext> tls, std::vector<Address> addrs,
                                            std::string& error,
                                            std::chrono::milliseconds per_address = std::chrono::seconds(3),
                                            std::string user_agent = "");
    ~Connection();

    void set_handlers(Handlers h) { h_ = std::move(h); }
    void send(std::string_view bytes);
    // Closes now; no handler is called afterwards.
    void close();
    bool is_open() const { return state_ == State::Open; }
    bool closed() const { return state_ == State::Closed; }
    // The TCP connection was established (to any address).
    bool connected() const { return connected_; }

    Connection(EventLoop& loop, const ApiConfig& cfg, std::shared_ptr<const TlsContext> tls);  // use open()

    static constexpr std::size_t kMaxProxyReply = 16 * 1024;  // CONNECT reply headers

private:
    enum class State { Connecting, Tunneling, Handshaking, Open, Closed };

    bool connect_next(std::string& error);
    void next_address(std::string why);  // the current attempt failed
    void cancel_attempt_timer();
    void on_events(std::uint32_t events);
    void on_connected();
    void start_tls();
    void tunnel(std::uint32_t events);
    void handshake();
    void read_some();
    void flush();
    void update_interest();
    void fail(std::string error);
    void teardown();

    EventLoop& loop_;
    const ApiConfig cfg_;  // copied: a connection may outlive its request
    std::shared_ptr<const TlsContext> tls_;
    std::string user_agent_;
    std::string tunnel_out_;  // CONNECT request not yet written
    std::string tunnel_in_;   // the proxy's reply so far
    Handlers h_;
    State state_ = State::Connecting;
    struct SslFree {
        void operator()(SSL* s) const;
    };
    Fd fd_;
    std::unique_ptr<SSL, SslFree> ssl_;
    std::vector<Address> addrs_;
    std::size_t next_addr_ = 0;
    std::chrono::milliseconds per_address_{3000};
    std::uint64_t attempt_timer_ = 0;
    bool connected_ = false;
    std::string last_connect_error_;
    std::string wbuf_;
    bool write_wants_read_ = false;
    bool read_wants_write_ = false;
    std::uint32_t interest_ = 0;
};

}  // namespace nra::kube
