// A small HTTP/1.1 server on the event loop for /metrics and the probes: no
// threads, every socket non-blocking, every resource bounded. One request per
// connection (the answer carries `Connection: close`), which is what
// Prometheus and the kubelet's probes need. A connection must deliver its
// request head and take its answer within `request_timeout`; at
// `max_connections` the oldest connection is closed to make room, so idle
// or slow clients can never lock the probes out or stall the loop.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>

#include "nra/base/fd.hpp"
#include "nra/base/loop.hpp"
#include "nra/base/result.hpp"

namespace nra::http {

struct Request {
    std::string method;  // "GET", "HEAD", ...
    std::string target;  // "/metrics?x=y"
    std::string path;    // "/metrics"
};

struct Response {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
};

// Parses a request head (request line and header fields, up to the blank
// line). Returns the request, or why it is malformed.
Result<Request> parse_request_head(std::string_view head);

// "HOST:PORT", ":PORT" (every address, both families), "[V6]:PORT".
struct ListenAddress {
    std::string host;  // "" = any
    std::uint16_t port = 0;
};
Result<ListenAddress> parse_listen_address(std::string_view text);

class Server {
public:
    struct Limits {
        std::size_t max_connections = 64;
        std::size_t max_request_head = 8 * 1024;
        std::chrono::milliseconds request_timeout{5000};
    };
    using Handler = std::function<Response(const Request&)>;

    Server(EventLoop& loop, Handler handler, Limits limits);
    Server(EventLoop& loop, Handler handler) : Server(loop, std::move(handler), Limits{}) {}
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Binds and listens. Throws std::system_error naming the address when the
    // socket cannot be set up (start-up only).
    void listen(const ListenAddress& address);
    std::uint16_t port() const { return port_; }  // the bound port (useful with port 0)
    std::size_t connections() const { return conns_.size(); }
    std::size_t evicted() const { return evicted_; }  // connections closed to make room

private:
    struct Conn;
    void on_accept();
    void on_io(Conn& c, std::uint32_t events);
    void close(Conn& c);
    void respond(Conn& c, const Response& r, bool head_only);
    void flush(Conn& c);

    EventLoop& loop_;
    Handler handler_;
    Limits limits_;
    Fd listen_fd_;
    std::uint16_t port_ = 0;
    std::list<std::unique_ptr<Conn>> conns_;  // oldest first
    std::size_t evicted_ = 0;
};

std::string_view status_text(int status);

}  // namespace nra::http
