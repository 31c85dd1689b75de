// The c-ares resolver on the event loop, against real sockets (no root): a
// UDP "name server" that never answers, /etc/hosts' localhost, address order.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <optional>
#include <string>

#include "nra/base/fd.hpp"
#include "nra/base/loop.hpp"
#include "nra/kube/resolve.hpp"

using namespace nra;
using namespace nra::kube;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> texts(const std::vector<Address>& v) {
    std::vector<std::string> out;
    for (const auto& a : v) out.push_back(a.text());
    return out;
}

}  // namespace

TEST_CASE("resolve: IP literals need no lookup; families are interleaved") {
    CHECK(texts(numeric_addresses("192.0.2.7", 6443)) == std::vector<std::string>{"192.0.2.7:6443"});
    CHECK(texts(numeric_addresses("2001:db8::1", 443)) == std::vector<std::string>{"[2001:db8::1]:443"});
    CHECK(numeric_addresses("api.example", 443).empty());
    std::vector<Address> mixed;
    for (const char* h : {"192.0.2.1", "192.0.2.2", "192.0.2.3", "2001:db8::1", "2001:db8::2"})
        mixed.push_back(numeric_addresses(h, 1)[0]);
    CHECK(texts(interleave_families(mixed)) ==
          std::vector<std::string>{"192.0.2.1:1", "[2001:db8::1]:1", "192.0.2.2:1", "[2001:db8::2]:1", "192.0.2.3:1"});
    std::vector<Address> v6first{mixed[3], mixed[0], mixed[1]};
    CHECK(texts(interleave_families(v6first)) ==
          std::vector<std::string>{"[2001:db8::1]:1", "192.0.2.1:1", "192.0.2.2:1"});
    CHECK(interleave_families({}).empty());
}

TEST_CASE("resolve: a name server that never answers fails the lookup on the loop, which keeps running") {
    Fd udp(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    REQUIRE(udp);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(udp.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
    socklen_t len = sizeof sin;
    ::getsockname(udp.get(), reinterpret_cast<sockaddr*>(&sin), &len);
    EventLoop loop;
    Resolver::Options o;
    o.timeout = 200ms;
    o.tries = 2;
    o.servers = "127.0.0.1:" + std::to_string(ntohs(sin.sin_port));
    Resolver r(loop, o);
    std::optional<std::string> error;
    const auto t0 = std::chrono::steady_clock::now();
    bool inside = true;
    r.resolve("nra-test.invalid", 443, [&](std::vector<Address> addrs, const std::string& e) {
        CHECK_FALSE(inside);
        CHECK(addrs.empty());
        error = e;
        loop.stop();
    });
    inside = false;
    CHECK(r.pending() == 1);
    int ticks = 0;
    std::function<void()> tick = [&] {
        ++ticks;
        loop.after(20ms, tick);
    };
    loop.after(20ms, tick);
    loop.after(20s, [&] { loop.stop(); });
    loop.run();
    REQUIRE(error);
    CHECK(error->find("cannot resolve nra-test.invalid") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - t0 < 10s);
    CHECK(ticks >= 5);  // the loop served timers while the lookup was pending
    CHECK(r.pending() == 0);
    // The queries did reach the silent server.
    char buf[512];
    CHECK(::recv(udp.get(), buf, sizeof buf, MSG_DONTWAIT) > 0);
}

TEST_CASE("resolve: localhost from /etc/hosts; a destroyed resolver calls nobody") {
    EventLoop loop;
    std::vector<Address> got;
    std::string error = "not called";
    {
        Resolver r(loop);
        r.resolve("localhost", 8443, [&](std::vector<Address> a, const std::string& e) {
            got = std::move(a);
            error = e;
            loop.stop();
        });
        loop.after(10s, [&] { loop.stop(); });
        loop.run();
    }
    CHECK(error.empty());
    REQUIRE_FALSE(got.empty());
    bool loopback = false;
    for (const auto& a : got) loopback = loopback || a.text() == "127.0.0.1:8443" || a.text() == "[::1]:8443";
    CHECK(loopback);

    bool called = false;
    {
        Resolver::Options o;
        o.servers = "127.0.0.1:9";  // discard: nobody answers
        Resolver r(loop, o);
        r.resolve("nra-test.invalid", 443, [&](std::vector<Address>, const std::string&) { called = true; });
    }
    loop.after(100ms, [&] { loop.stop(); });
    loop.run();
    CHECK_FALSE(called);
}
