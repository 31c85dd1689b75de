// Name resolution of the API server on the event loop (c-ares): /etc/hosts,
// then DNS as /etc/resolv.conf says (no NSS, so the static binary does the
// same), its sockets registered with the EventLoop and its timeouts loop
// timers. Each lookup uses a fresh c-ares channel, so edits of resolv.conf
// are picked up at the next lookup.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <vector>

namespace nra {
class EventLoop;
}

namespace nra::kube {

class ResolverAccess;

struct Address {
    sockaddr_storage ss{};
    socklen_t len = 0;
    int family() const { return ss.ss_family; }
    std::string text() const;  // "192.0.2.1:443", "[2001:db8::1]:443"
};

// Addresses of an IP literal (no lookup); empty when `host` is not one.
std::vector<Address> numeric_addresses(const std::string& host, std::uint16_t port);

// The order to try addresses in: both families interleaved, starting with the
// family of the first, each family's own order kept.
std::vector<Address> interleave_families(const std::vector<Address>& addrs);

class Resolver {
public:
    struct Options {
        std::chrono::milliseconds timeout{2000};  // per DNS try
        int tries = 2;
        std::string servers;  // "ip:port,..." instead of resolv.conf's nameservers (tests)
    };
    // error is "" on success (then addrs is not empty).
    using Done = std::function<void(std::vector<Address> addrs, const std::string& error)>;

    explicit Resolver(EventLoop& loop, Options opts);
    explicit Resolver(EventLoop& loop) : Resolver(loop, Options{}) {}
    ~Resolver();  // pending lookups end without callbacks
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    // A and AAAA of `host` (resolver order, not sorted), `port` set. `done` is
    // called once from the loop, never from inside resolve().
    void resolve(const std::string& host, std::uint16_t port, Done done);
    std::size_t pending() const { return lookups_.size(); }

    struct Lookup;  // one lookup in flight (resolve.cpp)

private:
    friend class ResolverAccess;
    void finish(Lookup* l);

    EventLoop& loop_;
    Options opts_;
    std::list<std::unique_ptr<Lookup>> lookups_;
};

}  // namespace nra::kube
