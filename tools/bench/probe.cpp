// nra-bench-probe: the benchmark's own netlink instrument, so that latency
// figures measure the agent and not an `ip` subprocess.
//
//   nra-bench-probe imposters [--table T] [--priority P] [--rules N] [--routes M]
//                             [--family 4|6] [--gateway ADDR] [--timeout-ms MS]
//     Injects N imposter rules, then M imposter routes, one at a time from
//     its own netlink socket (RTM_NEWRULE/RTM_NEWROUTE, acked), and waits for
//     each one's deletion notification before the next. Prints one JSON
//     object: per kind the latencies in microseconds from the kernel's ack
//     of the injection to the deletion notification, and how many were not
//     deleted within the timeout (then it exits 1).
//
//   nra-bench-probe config-change --file PATH --from NEW [--table T]
//                                 --expect-add CIDR --expect-del CIDR [--timeout-ms MS]
//     rename(NEW, PATH) (an atomic config replacement), then waits for the
//     rule of --expect-add to be added and that of --expect-del to be
//     deleted in table T. Prints the microseconds from the rename to the
//     first and to the last of the two notifications.
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <poll.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nra/core/ip.hpp"
#include "nra/netlink/rtnl.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using nra::Family;
using nra::Prefix;
using nra::Route;
using nra::Rule;
using nra::nl::Event;

[[noreturn]] void usage_error(const std::string& what) {
    std::fprintf(stderr, "nra-bench-probe: %s (see the comment at the top of tools/bench/probe.cpp)\n", what.c_str());
    std::exit(2);
}

long long us_since(Clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
}

Prefix prefix(const std::string& text) {
    auto p = nra::parse_prefix(text, true);
    if (!p) usage_error("bad prefix " + text + ": " + p.error);
    return *p.value;
}

struct Args {
    std::vector<std::string> v;
    std::string get(std::string_view name, std::string dflt) const {
        for (std::size_t i = 0; i + 1 < v.size(); ++i)
            if (v[i] == name) return v[i + 1];
        return dflt;
    }
    long num(std::string_view name, long dflt) const {
        const std::string s = get(name, "");
        if (s.empty()) return dflt;
        char* end = nullptr;
        const long n = std::strtol(s.c_str(), &end, 10);
        if (*end || n < 0) usage_error("bad number for " + std::string(name) + ": " + s);
        return n;
    }
};

// An acked request socket of our own: the agent's notifications name its
// port id as the sender, ours name this one.
class Injector {
public:
    Injector() {
        nl_ = mnl_socket_open(NETLINK_ROUTE);
        if (!nl_ || mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0)
            usage_error("netlink socket: " + std::string(std::strerror(errno)));
        buf_.resize(MNL_SOCKET_BUFFER_SIZE);
    }
    ~Injector() { mnl_socket_close(nl_); }
    // Returns 0 or the kernel's errno; the ack has been received on return.
    int add(const Rule& r) {
        return send(nra::nl::encode_rule(buf_.data(), buf_.size(), RTM_NEWRULE, flags(), ++seq_, r));
    }
    int add(const Route& r) {
        return send(nra::nl::encode_route(buf_.data(), buf_.size(), RTM_NEWROUTE, flags(), ++seq_, r));
    }

private:
    static std::uint16_t flags() { return NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL; }
    int send(std::size_t len) {
        if (mnl_socket_sendto(nl_, buf_.data(), len) < 0) return errno;
        for (;;) {
            const ssize_t got = mnl_socket_recvfrom(nl_, buf_.data(), buf_.size());
            if (got < 0) return errno;
            int n = static_cast<int>(got);
            for (auto* h = reinterpret_cast<nlmsghdr*>(buf_.data()); mnl_nlmsg_ok(h, n); h = mnl_nlmsg_next(h, &n)) {
                if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_seq == seq_)
                    return -static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(h))->error;
            }
        }
    }
    mnl_socket* nl_ = nullptr;
    std::vector<char> buf_;
    std::uint32_t seq_ = 0;
};

// Waits on the event subscription until pred(event) has been true `want`
// times or the deadline passes; returns the microseconds since t0 at each hit.
template <class Pred>
std::vector<long long> wait_events(nra::nl::Rtnl& rt, Clock::time_point t0, Clock::time_point deadline, int want,
                                   Pred pred) {
    std::vector<long long> hits;
    while (static_cast<int>(hits.size()) < want) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) break;
        pollfd p{rt.event_fd(), POLLIN, 0};
        if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
        const auto r = rt.drain_events([&](const Event& e) {
            if (pred(e)) hits.push_back(us_since(t0));
        });
        if (r.overrun) {
            std::fprintf(stderr, "nra-bench-probe: event overrun (ENOBUFS); results would be incomplete\n");
            std::exit(1);
        }
    }
    return hits;
}

void drain(nra::nl::Rtnl& rt) {
    rt.drain_events([](const Event&) {});
}

std::string json_list(const std::vector<long long>& v) {
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
    return s + "]";
}

int imposters(const Args& a) {
    const auto table = static_cast<std::uint32_t>(a.num("--table", 20));
    const auto prio = static_cast<std::uint32_t>(a.num("--priority", 20));
    const long nrules = a.num("--rules", 1000), nroutes = a.num("--routes", 100);
    const bool v6 = a.get("--family", "4") == "6";
    const auto gw = nra::IpAddr::parse(a.get("--gateway", v6 ? "fd00::1" : "10.0.0.1"));
    if (!gw) usage_error("bad --gateway");
    const auto timeout = std::chrono::milliseconds(a.num("--timeout-ms", 5000));
    if (nrules > 65536 || nroutes > 65536) usage_error("at most 65536 of each");

    nra::nl::Rtnl rt;
    Injector inj;
    drain(rt);
    std::vector<long long> rule_us, route_us;
    long missed = 0;
    auto host = [&](int block, long i) {
        const unsigned hi = static_cast<unsigned>(i) >> 8, lo = static_cast<unsigned>(i) & 255;
        return prefix(
            v6 ? "fd99:" + std::to_string(block) + "::" + std::to_string(hi) + ":" + std::to_string(lo) + "/128"
               : "172." + std::to_string(block) + "." + std::to_string(hi) + "." + std::to_string(lo) + "/32");
    };
    for (long i = 0; i < nrules; ++i) {
        // Four shapes of imposter, each with a source of its own to match its deletion by.
        Rule r;
        r.family = v6 ? Family::V6 : Family::V4;
        r.table = table;
        r.priority = prio;
        r.src = host(16 + static_cast<int>(i % 4), i);
        switch (i % 4) {
        case 1:
            r.dst = prefix(v6 ? "2001:db8::/32" : "203.0.113.0/24");
            break;
        case 2:
            r.fwmark = 0x10, r.fwmask = 0xffffffff;
            break;
        case 3:
            r.priority = prio + 5, r.iifname = "lo";
            break;
        default:
            break;
        }
        const Prefix src = *r.src;
        if (int err = inj.add(r)) usage_error("injecting " + r.str() + ": " + std::strerror(err));
        const auto t0 = Clock::now();
        auto hits = wait_events(rt, t0, t0 + timeout, 1, [&](const Event& e) {
            const auto* d = std::get_if<Rule>(&e.object);
            return e.type == Event::Type::DelRule && d && d->table == table && d->src && *d->src == src;
        });
        if (hits.empty())
            ++missed;
        else
            rule_us.push_back(hits[0]);
    }
    for (long i = 0; i < nroutes; ++i) {
        Route r;
        r.family = v6 ? Family::V6 : Family::V4;
        r.table = table;
        r.dst = host(200, i);
        r.protocol = RTPROT_STATIC;
        if (v6) r.priority = 1024;
        r.nexthops.push_back({*gw, 0, 1});
        const Prefix dst = r.dst;
        if (int err = inj.add(r)) usage_error("injecting " + r.str() + ": " + std::strerror(err));
        const auto t0 = Clock::now();
        auto hits = wait_events(rt, t0, t0 + timeout, 1, [&](const Event& e) {
            const auto* d = std::get_if<Route>(&e.object);
            return e.type == Event::Type::DelRoute && d && d->table == table && d->dst == dst;
        });
        if (hits.empty())
            ++missed;
        else
            route_us.push_back(hits[0]);
    }
    std::printf("{\"rules_us\":%s,\"routes_us\":%s,\"missed\":%ld}\n", json_list(rule_us).c_str(),
                json_list(route_us).c_str(), missed);
    return missed ? 1 : 0;
}

int config_change(const Args& a) {
    const std::string file = a.get("--file", ""), from = a.get("--from", "");
    if (file.empty() || from.empty()) usage_error("config-change needs --file and --from");
    const auto table = static_cast<std::uint32_t>(a.num("--table", 20));
    const Prefix add = prefix(a.get("--expect-add", "")), del = prefix(a.get("--expect-del", ""));
    const auto timeout = std::chrono::milliseconds(a.num("--timeout-ms", 10000));
    nra::nl::Rtnl rt;
    drain(rt);
    const auto t0 = Clock::now();
    if (std::rename(from.c_str(), file.c_str()) != 0) usage_error("rename: " + std::string(std::strerror(errno)));
    bool added = false, deleted = false;
    auto hits = wait_events(rt, t0, t0 + timeout, 2, [&](const Event& e) {
        const auto* d = std::get_if<Rule>(&e.object);
        if (!d || d->table != table || !d->src) return false;
        if (e.type == Event::Type::NewRule && *d->src == add && !added) return added = true;
        if (e.type == Event::Type::DelRule && *d->src == del && !deleted) return deleted = true;
        return false;
    });
    if (hits.size() < 2) {
        std::printf("{\"error\":\"timeout\",\"added\":%s,\"deleted\":%s}\n", added ? "true" : "false",
                    deleted ? "true" : "false");
        return 1;
    }
    std::printf("{\"first_us\":%lld,\"last_us\":%lld}\n", hits[0], hits[1]);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    for (int i = 2; i < argc; ++i) a.v.emplace_back(argv[i]);
    const std::string_view mode = argc > 1 ? argv[1] : "";
    try {
        if (mode == "imposters") return imposters(a);
        if (mode == "config-change") return config_change(a);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "nra-bench-probe: %s\n", e.what());
        return 1;
    }
    usage_error("usage: nra-bench-probe imposters|config-change [options]");
}
