// The metrics registry and the HTTP server of /metrics and the probes, over
// real loopback sockets (no root).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "nra/base/http_server.hpp"
#include "nra/base/metrics.hpp"

using namespace nra;

TEST_CASE("metrics: exposition format 0.0.4") {
    metrics::Registry r;
    r.describe("reconciles_total", metrics::Type::Counter, "Reconciles by trigger and result.");
    r.describe("rules", metrics::Type::Gauge, "Rules per family.\nSecond line \\ here.");
    r.describe("unused_total", metrics::Type::Counter, "Never incremented.");
    r.inc("reconciles_total", {{"trigger", "config"}, {"result", "ok"}});
    r.inc("reconciles_total", {{"trigger", "config"}, {"result", "ok"}}, 2);
    r.inc("reconciles_total", {{"trigger", "kernel"}, {"result", "ok"}});
    r.inc("reconciles_total", {{"trigger", "kernel"}, {"result", "ok"}}, -5);  // counters never go down
    r.set("rules", {{"family", "inet"}, {"note", "a\"b\\c\nd"}}, 12.5);
    CHECK(r.get("reconciles_total", {{"trigger", "config"}, {"result", "ok"}}) == 3);
    CHECK(r.get("absent") == 0);
    CHECK(r.render("nra_") ==
          "# HELP nra_reconciles_total Reconciles by trigger and result.\n"
          "# TYPE nra_reconciles_total counter\n"
          "nra_reconciles_total{trigger=\"config\",result=\"ok\"} 3\n"
          "nra_reconciles_total{trigger=\"kernel\",result=\"ok\"} 1\n"
          "# HELP nra_rules Rules per family.\\nSecond line \\\\ here.\n"
          "# TYPE nra_rules gauge\n"
          "nra_rules{family=\"inet\",note=\"a\\\"b\\\\c\\nd\"} 12.5\n"
          "# HELP nra_unused_total Never incremented.\n"
          "# TYPE nra_unused_total counter\n");
    r.clear("rules");
    CHECK(r.render("").find("rules{") == std::string::npos);
    CHECK(metrics::render_value(1e20) == "1e+20");
    CHECK(metrics::render_value(-3) == "-3");
    CHECK(metrics::render_value(1.0 / 0.0) == "+Inf");
}

TEST_CASE("http: request heads") {
    auto r = http::parse_request_head("GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n");
    REQUIRE(r);
    CHECK(r.value->method == "GET");
    CHECK(r.value->path == "/metrics");
    CHECK(r.value->target == "/metrics?x=1");
    CHECK(http::parse_request_head("GET /x HTTP/1.0\n\n"));
    CHECK(http::parse_request_head("GET /x HTTP/2.0\r\n\r\n").error == "unsupported HTTP version");
    CHECK(http::parse_request_head("GET\r\n\r\n").error == "malformed request line");
    CHECK(http::parse_request_head("GET  /x HTTP/1.1\r\n\r\n").error == "malformed request line");
    CHECK(http::parse_request_head("GET x HTTP/1.1\r\n\r\n").error == "request target is not a path");
    CHECK(http::parse_request_head("G(T /x HTTP/1.1\r\n\r\n").error == "malformed request method");
    CHECK(http::parse_request_head("GET /x HTTP/1.1\r\nno colon\r\n\r\n").error == "malformed header field");
    CHECK(http::parse_request_head("GET /x HTTP/1.1\r\nBad Name: v\r\n\r\n").error == "malformed header field name");
    CHECK(!http::parse_request_head(std::string("GET /\x01 HTTP/1.1\r\n\r\n")));
}

TEST_CASE("http: listen addresses") {
    auto a = http::parse_listen_address(":7473");
    REQUIRE(a);
    CHECK(a.value->host.empty());
    CHECK(a.value->port == 7473);
    a = http::parse_listen_address("127.0.0.1:80");
    REQUIRE(a);
    CHECK(a.value->host == "127.0.0.1");
    a = http::parse_listen_address("[::1]:9");
    REQUIRE(a);
    CHECK(a.value->host == "::1");
    CHECK(!http::parse_listen_address("7473"));
    CHECK(!http::parse_listen_address("localhost:7473"));
    CHECK(!http::parse_listen_address("::1:7473"));
    CHECK(!http::parse_listen_address("1.2.3.4:65536"));
    CHECK(!http::parse_listen_address("1.2.3.4:"));
    CHECK(!http::parse_listen_address("1.2.3.4:12a"));
}

namespace {

int connect_to(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
    return fd;
}

// Sends `request` on a new connection and runs the loop until the server
// closes it; returns what the server answered.
std::string exchange(EventLoop& loop, std::uint16_t port, const std::string& request) {
    Fd c(connect_to(port));
    if (!request.empty())
        REQUIRE(::send(c.get(), request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()));
    ::fcntl(c.get(), F_SETFL, O_NONBLOCK);
    std::string got;
    loop.add(c.get(), EPOLLIN, [&](std::uint32_t) {
        char buf[65536];
        for (;;) {
            ssize_t n = ::read(c.get(), buf, sizeof buf);
            if (n > 0) {
                got.append(buf, static_cast<std::size_t>(n));
                continue;
            }
            if (n == 0 || errno != EAGAIN) loop.stop();
            return;
        }
    });
    auto guard = loop.after(std::chrono::seconds(5), [&] { loop.stop(); });
    loop.run();
    loop.cancel(guard);
    loop.remove(c.get());
    return got;
}

}  // namespace

TEST_CASE("http: server answers, refuses and bounds") {
    EventLoop loop;
    int calls = 0;
    http::Server::Limits limits;
    limits.max_connections = 4;
    limits.max_request_head = 256;
    limits.request_timeout = std::chrono::milliseconds(300);
    http::Server server(
        loop,
        [&](const http::Request& r) {
            ++calls;
            if (r.path == "/healthz") return http::Response{200, "text/plain; charset=utf-8", "ok\n"};
            return http::Response{404, "text/plain; charset=utf-8", "not found\n"};
        },
        limits);
    server.listen(*http::parse_listen_address("127.0.0.1:0").value);
    REQUIRE(server.port() != 0);

    std::string a = exchange(loop, server.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(a.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(a.find("Content-Length: 3\r\n") != std::string::npos);
    CHECK(a.find("Connection: close\r\n") != std::string::npos);
    CHECK(a.substr(a.size() - 3) == "ok\n");

    a = exchange(loop, server.port(), "HEAD /healthz HTTP/1.1\r\n\r\n");
    CHECK(a.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(a.substr(a.size() - 4) == "\r\n\r\n");  // no body

    CHECK(exchange(loop, server.port(), "GET /nope HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404", 0) == 0);
    CHECK(exchange(loop, server.port(), "POST /healthz HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 405", 0) == 0);
    CHECK(exchange(loop, server.port(), "garbage\r\n\r\n").rfind("HTTP/1.1 400", 0) == 0);
    CHECK(exchange(loop, server.port(), "GET /healthz HTTP/1.1\r\nX: " + std::string(400, 'a'))
              .rfind("HTTP/1.1 431", 0) == 0);
    const int answered = calls;

    // A client that never sends a whole head is closed at the deadline, answered nothing.
    CHECK(exchange(loop, server.port(), "GET /healthz HTTP/1.1\r\n").empty());
    CHECK(calls == answered);

    // Idle connections beyond the limit: the oldest are closed to make room,
    // and a real request still gets its answer at once.
    std::vector<Fd> idle;
    for (int i = 0; i < 10; ++i) idle.emplace_back(connect_to(server.port()));
    auto tick = loop.after(std::chrono::milliseconds(50), [&] { loop.stop(); });
    loop.run();
    (void)tick;
    CHECK(server.connections() <= limits.max_connections);
    CHECK(exchange(loop, server.port(), "GET /healthz HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200", 0) == 0);
    CHECK(server.evicted() >= 6);
}
