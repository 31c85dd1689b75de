// nra-monitor: traces rtnetlink rule and route events (both families), one
// line per event, marking what carries the agent's protocol number as "ours".
// With --dump, prints the rules and routes that reference a table and exits.
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <system_error>

#include "nra/agent/log.hpp"
#include "nra/netlink/rtnl.hpp"

namespace {

using nra::Route;
using nra::Rule;
using nra::nl::Event;

constexpr const char* kUsage =
    "usage: nra-monitor [--table N] [--json] [--dump]\n"
    "\n"
    "Prints every policy-rule and route event of both families, one line each,\n"
    "until SIGINT/SIGTERM. Entries whose protocol is the agent's (245) are\n"
    "marked \"ours\"; the port id tells which socket caused the change.\n"
    "\n"
    "  --table N  only rules and routes that reference table N\n"
    "  --json     one JSON object per line instead of text\n"
    "  --dump     print the current rules and routes of --table N and exit\n"
    "  --help     this text\n";

struct Options {
    bool has_table = false;
    std::uint32_t table = 0;
    bool json = false;
    bool dump = false;
};

std::string json_str(std::string_view s) { return "\"" + nra::log::json_escape(s) + "\""; }

std::string now_text() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    tm t;
    gmtime_r(&ts.tv_sec, &t);
    char buf[48];
    std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &t);
    std::snprintf(buf + n, sizeof buf - n, ".%06ldZ", ts.tv_nsec / 1000);
    return buf;
}

std::string rule_json(const Rule& r) {
    std::string s = "{\"family\":" + json_str(nra::family_name(r.family)) + ",\"priority\":" + std::to_string(r.priority);
    if (r.src) s += ",\"src\":" + json_str(r.src->str());
    if (r.dst) s += ",\"dst\":" + json_str(r.dst->str());
    s += ",\"table\":" + std::to_string(r.table) + ",\"action\":" + std::to_string(static_cast<int>(r.action)) +
         ",\"protocol\":" + std::to_string(r.protocol);
    if (r.tos) s += ",\"tos\":" + std::to_string(r.tos);
    if (r.flags) s += ",\"flags\":" + std::to_string(r.flags);
    if (r.fwmark || r.fwmask) s += ",\"fwmark\":" + std::to_string(r.fwmark) + ",\"fwmask\":" + std::to_string(r.fwmask);
    if (!r.iifname.empty()) s += ",\"iif\":" + json_str(r.iifname);
    if (!r.oifname.empty()) s += ",\"oif\":" + json_str(r.oifname);
    return s + "}";
}

std::string route_json(const Route& r) {
    std::string s = "{\"family\":" + json_str(nra::family_name(r.family)) + ",\"table\":" + std::to_string(r.table) +
                    ",\"dst\":" + json_str(r.dst.str());
    if (r.src.len) s += ",\"src\":" + json_str(r.src.str());
    s += ",\"metric\":" + std::to_string(r.priority) + ",\"protocol\":" + std::to_string(r.protocol) +
         ",\"type\":" + std::to_string(r.type) + ",\"scope\":" + std::to_string(r.scope);
    if (r.tos) s += ",\"tos\":" + std::to_string(r.tos);
    if (r.oif) s += ",\"oif\":" + std::to_string(r.oif);
    if (r.nh_id) s += ",\"nhid\":" + std::to_string(r.nh_id);
    s += ",\"nexthops\":[";
    for (std::size_t i = 0; i < r.nexthops.size(); ++i) {
        const auto& nh = r.nexthops[i];
        if (i) s += ",";
        s += "{\"gateway\":" + json_str(nh.gateway.str()) + ",\"ifindex\":" + std::to_string(nh.ifindex) +
             ",\"weight\":" + std::to_string(nh.weight) + "}";
    }
    return s + "]}";
}

const char* event_name(Event::Type t) {
    switch (t) {
    case Event::Type::NewRule: return "new rule";
    case Event::Type::DelRule: return "del rule";
    case Event::Type::NewRoute: return "new route";
    case Event::Type::DelRoute: return "del route";
    }
    return "?";
}

// One line for a rule or route; `what` is the event name or "rule"/"route".
void print(const Options& o, const char* what, const std::variant<Rule, Route>& obj, const std::string* portinfo) {
    bool is_rule = std::holds_alternative<Rule>(obj);
    std::uint8_t proto = is_rule ? std::get<Rule>(obj).protocol : std::get<Route>(obj).protocol;
    bool ours = proto == nra::kOurProtocol;
    std::string text = is_rule ? std::get<Rule>(obj).str() : std::get<Route>(obj).str();
    if (o.json) {
        std::string line = "{\"time\":" + json_str(now_text()) + ",\"event\":" + json_str(what) +
                           ",\"ours\":" + (ours ? "true" : "false");
        if (portinfo) line += ",\"portid\":" + *portinfo;
        line += ",\"object\":" + (is_rule ? rule_json(std::get<Rule>(obj)) : route_json(std::get<Route>(obj)));
        line += ",\"text\":" + json_str(text) + "}";
        std::printf("%s\n", line.c_str());
    } else {
        std::printf("%s %-9s %s%s%s%s\n", now_text().c_str(), what, ours ? "ours " : "", text.c_str(),
                    portinfo ? " portid " : "", portinfo ? portinfo->c_str() : "");
    }
    std::fflush(stdout);
}

bool references(const Options& o, const std::variant<Rule, Route>& obj) {
    if (!o.has_table) return true;
    if (auto* r = std::get_if<Rule>(&obj)) return r->table == o.table;
    return std::get<Route>(obj).table == o.table;
}

bool parse_u32(std::string_view s, std::uint32_t& v) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}

int run_dump(const Options& o, nra::nl::Rtnl& nl) {
    auto d = nl.dump(o.table);
    if (!d.ok) {
        std::fprintf(stderr, "nra-monitor: dump of table %u failed: %s\n", o.table, d.error.c_str());
        return 1;
    }
    for (const auto& r : d.observed.rules) print(o, "rule", r, nullptr);
    for (const auto& r : d.observed.routes) print(o, "route", r, nullptr);
    return 0;
}

int run_monitor(const Options& o, nra::nl::Rtnl& nl) {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) {
        std::perror("nra-monitor: sigprocmask");
        return 1;
    }
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) {
        std::perror("nra-monitor: signalfd");
        return 1;
    }
    for (;;) {
        pollfd fds[2] = {{nl.event_fd(), POLLIN, 0}, {sfd, POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            std::perror("nra-monitor: poll");
            return 1;
        }
        if (fds[1].revents) break;
        auto res = nl.drain_events([&](const Event& e) {
            if (!references(o, e.object)) return;
            std::string port = std::to_string(e.portid);
            if (e.portid == 0) port = o.json ? "0" : "0 (kernel)";
            print(o, event_name(e.type), e.object, &port);
        });
        if (res.overrun) {
            if (o.json)
                std::printf("{\"time\":%s,\"event\":\"overrun\",\"text\":%s}\n", json_str(now_text()).c_str(),
                            json_str(res.what).c_str());
            else
                std::printf("%s overrun   %s\n", now_text().c_str(), res.what.c_str());
            std::fflush(stdout);
        }
        if (res.error) {
            std::fprintf(stderr, "nra-monitor: %s\n", res.what.c_str());
            return 1;
        }
    }
    close(sfd);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--help" || a == "-h") {
            std::fputs(kUsage, stdout);
            return 0;
        } else if (a == "--json") {
            o.json = true;
        } else if (a == "--dump") {
            o.dump = true;
        } else if (a == "--table" || a.starts_with("--table=")) {
            std::string_view v;
            if (a == "--table") {
                if (i + 1 >= argc) {
                    std::fprintf(stderr, "nra-monitor: --table needs a value\n%s", kUsage);
                    return 2;
                }
                v = argv[++i];
            } else {
                v = a.substr(8);
            }
            if (!parse_u32(v, o.table)) {
                std::fprintf(stderr, "nra-monitor: bad table id '%.*s'\n", static_cast<int>(v.size()), v.data());
                return 2;
            }
            o.has_table = true;
        } else {
            std::fprintf(stderr, "nra-monitor: unknown argument '%s'\n%s", argv[i], kUsage);
            return 2;
        }
    }
    if (o.dump && !o.has_table) {
        std::fprintf(stderr, "nra-monitor: --dump needs --table N\n");
        return 2;
    }
    try {
        nra::nl::Rtnl nl;
        return o.dump ? run_dump(o, nl) : run_monitor(o, nl);
    } catch (const std::system_error& e) {
        std::fprintf(stderr, "nra-monitor: %s\n", e.what());
        return 1;
    }
}
