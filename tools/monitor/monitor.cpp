// nra-monitor: a live trace of rtnetlink rule and route events of both
// families for one table (or all), one line per event: when, add/del, the
// object in `ip` syntax with its protocol, and which process caused it.
// With --dump, prints the rules and routes that reference the table and exits.
//
// Who caused an event: the notification's nlmsg_pid is the port id of the
// socket that sent the request (0 = the kernel itself). The port id is looked
// up in /proc/net/netlink (this namespace's sockets) to get the socket's
// inode, and the process holding `socket:[inode]` is found in /proc/PID/fd.
// This happens as soon as the event is read: `ip` exits right after its ack.
#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "nra/base/fd.hpp"
#include "nra/base/file.hpp"
#include "nra/base/log.hpp"
#include "nra/base/signals.hpp"
#include "nra/netlink/rtnl.hpp"

#ifndef NRA_VERSION
#define NRA_VERSION "0.0.0"
#endif

namespace {

using nra::Route;
using nra::Rule;
using nra::nl::Event;

constexpr std::uint32_t kDefaultTable = 20;  // the agent's TABLE_WEIGHT default

constexpr const char* kUsage =
    "usage: nra-monitor [--table N | --all] [--json] [--count N] [--duration S]\n"
    "       nra-monitor --dump [--table N] [--json]\n"
    "\n"
    "Traces policy-rule and route events of both families (IPv4 and IPv6) as they\n"
    "happen, one line per event, until stopped. Each line: the time (UTC, in\n"
    "microseconds), add or del, the rule or route in `ip` syntax with its protocol\n"
    "(proto 245 = the agent's stamp, proto static, proto boot, ...) and who caused it:\n"
    "\n"
    "  2026-11-26T15:29:01.385986Z add rule priority 20 from 192.168.57.0/24 lookup 20 proto 245  by "
    "metallb-nra[1234]\n"
    "\n"
    "Which events:\n"
    "  --table N      rules that point at table N and routes in table N (1..4294967295).\n"
    "                 Default: the TABLE_WEIGHT environment variable, like the agent,\n"
    "                 else 20\n"
    "  --peer-set-tables FIRST-LAST\n"
    "                 and the agent's peer-set tables, FIRST..LAST. Default: the\n"
    "                 PEER_SET_TABLES environment variable, like the agent, else\n"
    "                 30001-30064\n"
    "  --all          every table\n"
    "\n"
    "Output (stdout, flushed after every line, so pipes work):\n"
    "  --json         one JSON object per line instead of text:\n"
    "                   time, event (\"add\"|\"del\"), kind (\"rule\"|\"route\"), family\n"
    "                   (\"inet\"|\"inet6\"), the object's fields (rules: priority, src,\n"
    "                   dst, table, action, fwmark, iif, ...; routes: table, dst, src,\n"
    "                   metric, type, scope, nexthops, ...), protocol (number), proto\n"
    "                   (name), ours (protocol 245), text (the `ip` form) and sender:\n"
    "                   \"kernel\" or {\"port\", \"pid\", \"comm\"} (pid/comm null when\n"
    "                   unknown; \"guess\": true when matched by port id only)\n"
    "                 A lost-events warning is {\"time\", \"event\": \"warning\", \"text\"}.\n"
    "\n"
    "Stopping (exit status 0):\n"
    "  --count N      after N printed events (N >= 1)\n"
    "  --duration S   after S seconds (decimals allowed, e.g. 0.5)\n"
    "  SIGINT or SIGTERM (Ctrl-C)\n"
    "\n"
    "Other modes:\n"
    "  --dump         print the rules and routes that reference the tables now, and\n"
    "                 exit (text: `rule ...`/`route ...` lines; --json as above,\n"
    "                 without time, event and sender)\n"
    "  --version      print the version\n"
    "  --help, -h     this text\n"
    "\n"
    "Who (\"by ...\"; the netlink header's nlmsg_pid is the sender's port id):\n"
    "  by kernel              port 0: the kernel itself (addresses, links going down, ...)\n"
    "  by COMM[PID]           the process holding the sending socket (/proc/net/netlink\n"
    "                         gives the socket's inode, /proc/PID/fd its holder)\n"
    "  by COMM[PID]?          a guess: the socket is gone (a short-lived `ip`), but an\n"
    "                         autobound socket's port id is its process id, and PID runs\n"
    "  by unknown (port N)    neither (the process already exited)\n"
    "Attribution reads /proc; run as root to see every process. It only finds\n"
    "processes of this network namespace's sockets, as seen from this PID namespace.\n"
    "\n"
    "If the kernel drops events (ENOBUFS: the reader was too slow), a warning line\n"
    "says so and tracing goes on.\n"
    "\n"
    "Environment: TABLE_WEIGHT (see --table), PEER_SET_TABLES (see --peer-set-tables).\n"
    "Exit status: 0 done, 1 netlink error, 2 invalid arguments or environment.\n";

struct Options {
    std::uint32_t table = kDefaultTable;
    nra::TableSet tables;  // table and the peer-set range
    bool all = false;
    bool json = false;
    bool dump = false;
    std::uint64_t count = 0;  // 0 = no limit
    double duration = 0;      // seconds; 0 = no limit
};

// ---------------------------------------------------------------------------
// Output helpers

std::string json_str(std::string_view s) { return "\"" + nra::log::json_escape(s) + "\""; }

std::string hex(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

// /etc/iproute2/rt_protos as iproute2 ships it (RTPROT_*); others print as numbers.
const char* proto_name(std::uint8_t p) {
    switch (p) {
    case 0:
        return "unspec";
    case 1:
        return "redirect";
    case 2:
        return "kernel";
    case 3:
        return "boot";
    case 4:
        return "static";
    case 8:
        return "gated";
    case 9:
        return "ra";
    case 10:
        return "mrt";
    case 11:
        return "zebra";
    case 12:
        return "bird";
    case 13:
        return "dnrouted";
    case 14:
        return "xorp";
    case 15:
        return "ntk";
    case 16:
        return "dhcp";
    case 17:
        return "mrouted";
    case 18:
        return "keepalived";
    case 42:
        return "babel";
    case 99:
        return "openr";
    case 186:
        return "bgp";
    case 187:
        return "isis";
    case 188:
        return "ospf";
    case 189:
        return "rip";
    case 192:
        return "eigrp";
    }
    return nullptr;
}

std::string proto_text(std::uint8_t p) {
    const char* n = proto_name(p);
    return n ? n : std::to_string(p);
}

// RTN_*
const char* route_type_name(std::uint8_t t) {
    static const char* const names[] = {"unspec",    "unicast",     "local",    "broadcast", "anycast", "multicast",
                                        "blackhole", "unreachable", "prohibit", "throw",     "nat",     "xresolve"};
    return t < sizeof names / sizeof names[0] ? names[t] : nullptr;
}

const char* rule_action_name(nra::RuleAction a) {
    switch (a) {
    case nra::RuleAction::ToTable:
        return "lookup";
    case nra::RuleAction::Goto:
        return "goto";
    case nra::RuleAction::Nop:
        return "nop";
    case nra::RuleAction::Blackhole:
        return "blackhole";
    case nra::RuleAction::Unreachable:
        return "unreachable";
    case nra::RuleAction::Prohibit:
        return "prohibit";
    case nra::RuleAction::Unspec:
        break;
    }
    return "unspec";
}

std::string ifname(std::uint32_t index) {
    char buf[IF_NAMESIZE];
    if (index && if_indextoname(index, buf)) return buf;
    return {};
}

// The core's str() with what `ip` prints by name: "proto N" -> "proto static",
// "type 7 ..." -> "unreachable ...", a device-only route's "oif N" -> "dev NAME".
std::string with_proto_name(std::string s, std::uint8_t proto) {
    const std::string num = " proto " + std::to_string(proto);
    std::size_t at = s.rfind(num);
    if (at != std::string::npos && (at + num.size() == s.size() || s[at + num.size()] == ' '))
        s.replace(at, num.size(), " proto " + proto_text(proto));
    return s;
}

std::string ip_text(const Rule& r) { return with_proto_name(r.str(), r.protocol); }

std::string ip_text(const Route& r) {
    std::string s = with_proto_name(r.str(), r.protocol);
    const std::size_t base = r.family == nra::Family::V6 ? 3 : 0;
    const std::string type = "type " + std::to_string(r.type) + " ";
    const char* tname = route_type_name(r.type);
    if (tname && s.compare(base, type.size(), type) == 0) s.replace(base, type.size(), std::string(tname) + " ");
    const std::string oif = " oif " + std::to_string(r.oif);
    if (r.oif && s.ends_with(oif)) {
        std::string name = ifname(r.oif);
        if (!name.empty()) s.replace(s.size() - oif.size(), oif.size(), " dev " + name);
    }
    return s;
}

// The object's fields as JSON members (no braces), starting with "family".
std::string fields_json(const Rule& r) {
    std::string s =
        "\"family\":" + json_str(nra::family_name(r.family)) + ",\"priority\":" + std::to_string(r.priority);
    if (r.flags & 0x2) s += ",\"not\":true";  // FIB_RULE_INVERT
    s += ",\"src\":" + json_str(r.src ? r.src->str() : "all");
    if (r.dst) s += ",\"dst\":" + json_str(r.dst->str());
    if (r.tos) s += ",\"tos\":" + std::to_string(r.tos);
    if (r.fwmark || r.fwmask) s += ",\"fwmark\":" + json_str(hex(r.fwmark)) + ",\"fwmask\":" + json_str(hex(r.fwmask));
    if (!r.iifname.empty()) s += ",\"iif\":" + json_str(r.iifname);
    if (!r.oifname.empty()) s += ",\"oif\":" + json_str(r.oifname);
    if (r.l3mdev) s += ",\"l3mdev\":true";
    if (r.uid_range)
        s += ",\"uidrange\":{\"start\":" + std::to_string(r.uid_range->start) +
             ",\"end\":" + std::to_string(r.uid_range->end) + "}";
    if (r.ip_proto) s += ",\"ipproto\":" + std::to_string(r.ip_proto);
    if (r.sport)
        s += ",\"sport\":{\"start\":" + std::to_string(r.sport->start) + ",\"end\":" + std::to_string(r.sport->end) +
             "}";
    if (r.dport)
        s += ",\"dport\":{\"start\":" + std::to_string(r.dport->start) + ",\"end\":" + std::to_string(r.dport->end) +
             "}";
    if (r.tun_id) s += ",\"tun_id\":" + std::to_string(r.tun_id);
    s += ",\"action\":" + json_str(rule_action_name(r.action));
    s += ",\"table\":" + std::to_string(r.table);
    if (r.action == nra::RuleAction::Goto) s += ",\"goto\":" + std::to_string(r.goto_target);
    if (r.suppress_prefixlen) s += ",\"suppress_prefixlength\":" + std::to_string(*r.suppress_prefixlen);
    if (r.suppress_ifgroup) s += ",\"suppress_ifgroup\":" + std::to_string(*r.suppress_ifgroup);
    if (r.flow) s += ",\"realms\":" + std::to_string(r.flow);
    s += ",\"protocol\":" + std::to_string(r.protocol);
    return s;
}

std::string fields_json(const Route& r) {
    std::string s = "\"family\":" + json_str(nra::family_name(r.family)) + ",\"table\":" + std::to_string(r.table);
    const char* tname = route_type_name(r.type);
    s += ",\"type\":" + (tname ? json_str(tname) : std::to_string(r.type));
    s += ",\"dst\":" + json_str(r.dst.str());
    if (r.src.len) s += ",\"src\":" + json_str(r.src.str());
    if (r.tos) s += ",\"tos\":" + std::to_string(r.tos);
    s += ",\"metric\":" + std::to_string(r.priority) + ",\"scope\":" + std::to_string(r.scope);
    if (r.oif) {
        s += ",\"oif\":" + std::to_string(r.oif);
        std::string name = ifname(r.oif);
        if (!name.empty()) s += ",\"dev\":" + json_str(name);
    }
    if (r.nh_id) s += ",\"nhid\":" + std::to_string(r.nh_id);
    s += ",\"nexthops\":[";
    for (std::size_t i = 0; i < r.nexthops.size(); ++i) {
        const auto& nh = r.nexthops[i];
        if (i) s += ",";
        s += "{\"gateway\":" + json_str(nh.gateway.str()) + ",\"ifindex\":" + std::to_string(nh.ifindex);
        std::string name = ifname(nh.ifindex);
        if (!name.empty()) s += ",\"dev\":" + json_str(name);
        s += ",\"weight\":" + std::to_string(nh.weight) + "}";
    }
    s += "],\"protocol\":" + std::to_string(r.protocol);
    return s;
}

struct Described {
    const char* kind;  // "rule" / "route"
    std::uint32_t table;
    std::uint8_t protocol;
    std::string text;    // `ip` form
    std::string fields;  // JSON members
};

// `ip nexthop` form, devices by name.
std::string ip_text(const nra::NexthopObject& n) {
    std::string s = n.str();
    if (n.oif) {
        const std::string name = ifname(n.oif);
        const std::string num = " dev " + std::to_string(n.oif);
        if (!name.empty()) s.replace(s.find(num), num.size(), " dev " + name);
    }
    return s;
}

std::string fields_json(const nra::NexthopObject& n) {
    std::string s = "\"id\":" + std::to_string(n.id);
    if (n.gateway) s += ",\"gateway\":" + json_str(n.gateway->str());
    if (n.oif) {
        s += ",\"oif\":" + std::to_string(n.oif);
        std::string name = ifname(n.oif);
        if (!name.empty()) s += ",\"dev\":" + json_str(name);
    }
    if (n.blackhole) s += ",\"blackhole\":true";
    if (n.is_group()) {
        s += ",\"group\":[";
        for (std::size_t i = 0; i < n.group.size(); ++i)
            s += std::string(i ? "," : "") + "{\"id\":" + std::to_string(n.group[i].id) +
                 ",\"weight\":" + std::to_string(n.group[i].weight) + "}";
        s += "],\"group_type\":" + json_str(n.group_type == nra::kNhGroupResilient ? "resilient"
                                            : n.group_type == nra::kNhGroupMpath   ? "mpath"
                                                                                   : std::to_string(n.group_type));
        if (n.group_type == nra::kNhGroupResilient)
            s += ",\"buckets\":" + std::to_string(n.buckets) +
                 ",\"idle_timer\":" + std::to_string(n.idle_timer / nra::kNhClockHz) +
                 ",\"unbalanced_timer\":" + std::to_string(n.unbalanced_timer / nra::kNhClockHz);
    }
    s += ",\"protocol\":" + std::to_string(n.protocol);
    return s;
}

using Object = std::variant<Rule, Route, nra::NexthopObject>;

Described describe(const Object& obj) {
    if (auto* r = std::get_if<Rule>(&obj)) return {"rule", r->table, r->protocol, ip_text(*r), fields_json(*r)};
    if (auto* n = std::get_if<nra::NexthopObject>(&obj))
        return {"nexthop", 0, n->protocol, ip_text(*n), fields_json(*n)};
    const Route& r = std::get<Route>(obj);
    return {"route", r.table, r.protocol, ip_text(r), fields_json(r)};
}

// JSON members shared by events and dump lines, after the object's fields.
std::string tail_json(const Described& d) {
    return ",\"proto\":" + json_str(proto_text(d.protocol)) +
           ",\"ours\":" + (d.protocol == nra::kOurProtocol ? "true" : "false") + ",\"text\":" + json_str(d.text);
}

void emit(const std::string& line) {
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
}

// ---------------------------------------------------------------------------
// Who sent it: port id -> socket inode -> process

struct Sender {
    std::uint32_t port = 0;  // 0 = the kernel
    long pid = 0;            // 0 = unknown
    std::string comm;
    bool guessed = false;  // pid == port id and that process exists; the socket was not found
};

std::string sender_text(const Sender& s) {
    if (s.port == 0) return "kernel";
    if (s.pid == 0) return "unknown (port " + std::to_string(s.port) + ")";
    return s.comm + "[" + std::to_string(s.pid) + "]" + (s.guessed ? "?" : "");
}

std::string sender_json(const Sender& s) {
    if (s.port == 0) return "\"kernel\"";
    std::string j = "{\"port\":" + std::to_string(s.port);
    if (s.pid == 0) return j + ",\"pid\":null,\"comm\":null}";
    j += ",\"pid\":" + std::to_string(s.pid) + ",\"comm\":" + json_str(s.comm);
    if (s.guessed) j += ",\"guess\":true";
    return j + "}";
}

std::vector<std::string_view> split_ws(std::string_view line) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        std::size_t b = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
        if (i > b) out.push_back(line.substr(b, i - b));
    }
    return out;
}

template <class T>
bool parse_uint(std::string_view s, T& v, int base = 10) {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
    return ec == std::errc() && p == s.data() + s.size();
}

// The inode of the NETLINK_ROUTE socket with this port id, from the text of
// /proc/net/netlink ("sk Eth Pid Groups ... Inode"; "Pid" is the port id).
std::optional<std::uint64_t> route_socket_inode(std::string_view text, std::uint32_t port) {
    std::size_t eol = text.find('\n');
    if (eol == std::string_view::npos) return std::nullopt;
    auto header = split_ws(text.substr(0, eol));
    std::size_t eth = 1, pid = 2, inode = header.empty() ? 9 : header.size() - 1;
    for (std::size_t i = 0; i < header.size(); ++i) {
        if (header[i] == "Eth")
            eth = i;
        else if (header[i] == "Pid")
            pid = i;
        else if (header[i] == "Inode")
            inode = i;
    }
    text.remove_prefix(eol + 1);
    while (!text.empty()) {
        eol = text.find('\n');
        std::string_view line = text.substr(0, eol);
        text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
        auto f = split_ws(line);
        std::uint32_t proto, p;
        std::uint64_t ino;
        if (f.size() <= std::max({eth, pid, inode})) continue;
        if (!parse_uint(f[eth], proto) || proto != 0 /* NETLINK_ROUTE */) continue;
        if (!parse_uint(f[pid], p) || p != port) continue;
        if (parse_uint(f[inode], ino) && ino != 0) return ino;
    }
    return std::nullopt;
}

std::optional<std::string> read_comm(long pid) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%ld/comm", pid);
    auto r = nra::read_whole_file(path);
    if (!r || r.value->empty()) return std::nullopt;
    std::string& s = *r.value;
    if (s.back() == '\n') s.pop_back();
    return std::move(s);
}

// Calls fn(inode) for each socket among pid's file descriptors until fn
// returns true; returns whether it did.
template <class Fn>
bool scan_sockets(long pid, Fn&& fn) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%ld/fd", pid);
    DIR* d = opendir(path);
    if (!d) return false;
    bool hit = false;
    const int dfd = dirfd(d);
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        char link[64];
        ssize_t n = readlinkat(dfd, e->d_name, link, sizeof link);
        if (n < 10 || n >= static_cast<ssize_t>(sizeof link) || std::memcmp(link, "socket:[", 8) != 0 ||
            link[n - 1] != ']')
            continue;
        std::uint64_t inode;
        if (!parse_uint(std::string_view(link + 8, static_cast<std::size_t>(n - 9)), inode)) continue;
        if (fn(inode)) {
            hit = true;
            break;
        }
    }
    closedir(d);
    return hit;
}

class Resolver {
public:
    Sender resolve(std::uint32_t port) {
        Sender s;
        s.port = port;
        if (port == 0) return s;
        // Autobound sockets get the process id as port id (the first one;
        // later ones a negative number, which is >= 2^31 here). Read that
        // process's name first, while a short-lived sender may still exist.
        const bool pid_like = port < 0x80000000u;
        std::optional<std::string> port_comm;
        if (pid_like) port_comm = read_comm(port);
        if (auto table = nra::read_whole_file("/proc/net/netlink")) {
            if (auto inode = route_socket_inode(*table.value, port)) {
                auto take = [&](long pid, std::optional<std::string> comm) {
                    if (!comm) return false;
                    s.pid = pid;
                    s.comm = std::move(*comm);
                    return true;
                };
                if (port_comm && holds(port, *inode) && take(port, port_comm)) return s;
                auto it = owner_.find(*inode);
                if (it != owner_.end() && holds(it->second, *inode) && take(it->second, read_comm(it->second)))
                    return s;
                rescan();  // a new socket, or a stale entry
                it = owner_.find(*inode);
                if (it != owner_.end() && take(it->second, read_comm(it->second))) return s;
            }
        }
        if (port_comm) {  // the socket is gone (or its holder hidden): a guess
            s.pid = port;
            s.comm = std::move(*port_comm);
            s.guessed = true;
        }
        return s;
    }

private:
    static bool holds(long pid, std::uint64_t inode) {
        return scan_sockets(pid, [&](std::uint64_t i) { return i == inode; });
    }

    // Every socket inode on the system -> the first process holding it.
    void rescan() {
        owner_.clear();
        DIR* proc = opendir("/proc");
        if (!proc) return;
        while (dirent* e = readdir(proc)) {
            long pid;
            if (!parse_uint(std::string_view(e->d_name), pid) || pid <= 0) continue;
            scan_sockets(pid, [&](std::uint64_t inode) {
                owner_.emplace(inode, pid);
                return false;
            });
        }
        closedir(proc);
    }

    std::unordered_map<std::uint64_t, long> owner_;
};

// ---------------------------------------------------------------------------
// Modes

// Nexthop objects belong to no table: their events are always shown;
// neighbour events never.
bool selected(const Options& o, const Event& e) {
    if (e.is_neighbour() || e.is_interface()) return false;
    const Object& obj = e.object;
    if (o.all || std::holds_alternative<nra::NexthopObject>(obj)) return true;
    if (auto* r = std::get_if<Rule>(&obj)) return o.tables.contains(r->table);
    return o.tables.contains(std::get<Route>(obj).table);
}

int run_dump(const Options& o, nra::nl::Rtnl& nl) {
    auto d = nl.dump(o.tables);
    if (!d) {
        std::fprintf(stderr, "nra-monitor: dump of tables %s failed: %s\n", o.tables.str().c_str(), d.error.c_str());
        return 1;
    }
    auto line = [&](const Object& obj) {
        Described x = describe(obj);
        if (o.json)
            emit("{\"kind\":" + json_str(x.kind) + "," + x.fields + tail_json(x) + "}");
        else
            emit(std::string(x.kind) + " " + x.text);
    };
    for (const auto& r : d.value->rules) line(r);
    for (const auto& r : d.value->routes) line(r);
    // Nexthop objects the routes may use (none on a kernel without them).
    if (auto nh = nl.dump_nexthops())
        for (const auto& n : *nh.value) line(n);
    return 0;
}

void print_event(const Options& o, const std::string& when, const Event& e, const Sender& who) {
    const bool add =
        e.type == Event::Type::NewRule || e.type == Event::Type::NewRoute || e.type == Event::Type::NewNexthop;
    Described x = describe(e.object);
    if (o.json) {
        emit("{\"time\":" + json_str(when) + ",\"event\":" + (add ? "\"add\"" : "\"del\"") +
             ",\"kind\":" + json_str(x.kind) + "," + x.fields + tail_json(x) + ",\"sender\":" + sender_json(who) + "}");
    } else {
        emit(when + (add ? " add " : " del ") + x.kind + " " + x.text + "  by " + sender_text(who));
    }
}

void print_warning(const Options& o, const std::string& what) {
    const std::string when = nra::log::timestamp();
    if (o.json)
        emit("{\"time\":" + json_str(when) + ",\"event\":\"warning\",\"text\":" + json_str(what) + "}");
    else
        emit(when + " warning: " + what);
}

double monotonic_now() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

int run_monitor(const Options& o, nra::nl::Rtnl& nl, int sfd) {
    if (o.all)
        std::fprintf(stderr, "nra-monitor: tracing rules and routes of all tables (IPv4 and IPv6)\n");
    else
        std::fprintf(stderr, "nra-monitor: tracing rules and routes of tables %s (IPv4 and IPv6)\n",
                     o.tables.str().c_str());
    std::fflush(stderr);

    const double deadline = o.duration > 0 ? monotonic_now() + o.duration : 0;
    Resolver resolver;
    std::uint64_t printed = 0;
    for (;;) {
        int timeout = -1;
        if (deadline > 0) {
            double left = deadline - monotonic_now();
            if (left <= 0) return 0;
            timeout = static_cast<int>(std::min(std::ceil(left * 1000), 1e9));
        }
        pollfd fds[2] = {{nl.event_fd(), POLLIN, 0}, {sfd, POLLIN, 0}};
        int n = poll(fds, 2, timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            std::perror("nra-monitor: poll");
            return 1;
        }
        if (fds[1].revents) return 0;  // SIGINT / SIGTERM
        if (n == 0) continue;          // the deadline is checked above
        // A burst from one socket (an `ip -batch`, the agent's reconcile) is
        // resolved once per read-out, not once per event.
        std::unordered_map<std::uint32_t, Sender> senders;
        auto res = nl.drain_events([&](const Event& e) {
            if ((o.count && printed >= o.count) || !selected(o, e)) return;
            const std::string when = nra::log::timestamp();
            // Resolve at once: the sender may exit right after its ack.
            auto it = senders.find(e.portid);
            if (it == senders.end()) it = senders.emplace(e.portid, resolver.resolve(e.portid)).first;
            print_event(o, when, e, it->second);
            ++printed;
        });
        if (res.overrun) print_warning(o, res.what + "; tracing goes on");
        if (res.error) {
            std::fprintf(stderr, "nra-monitor: %s\n", res.what.c_str());
            return 1;
        }
        if (o.count && printed >= o.count) return 0;
    }
}

// ---------------------------------------------------------------------------
// Arguments

// Thrown for invalid arguments or environment (start-up only): exit status 2.
class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

[[noreturn]] void usage_error(const std::string& msg) { throw UsageError(msg); }

std::uint32_t parse_table(std::string_view v, const std::string& what) {
    std::uint64_t t;
    if (!parse_uint(v, t) || t > 0xffffffffull)
        usage_error("invalid " + what + "='" + std::string(v) + "': expected a routing table id (1..4294967295)");
    if (t == 0) usage_error("invalid " + what + "='0': table 0 means all tables; use --all");
    return static_cast<std::uint32_t>(t);
}

// The options, or nullopt when --help or --version was answered (exit 0).
std::optional<Options> parse_args(int argc, char** argv) {
    Options o;
    bool has_table = false;
    bool has_count = false;
    std::string range, range_what;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--help" || a == "-h") {
            std::fputs(kUsage, stdout);
            return std::nullopt;
        }
        if (a == "--version") {
            std::printf("nra-monitor %s\n", NRA_VERSION);
            return std::nullopt;
        }
        if (a == "--json") {
            o.json = true;
            continue;
        }
        if (a == "--dump") {
            o.dump = true;
            continue;
        }
        if (a == "--all") {
            o.all = true;
            continue;
        }
        // Options with a value: --name V or --name=V.
        std::string_view name = a.substr(0, a.find('='));
        if (name != "--table" && name != "--count" && name != "--duration" && name != "--peer-set-tables")
            usage_error("unknown argument '" + std::string(a) + "'");
        std::string_view v;
        if (name.size() < a.size()) {
            v = a.substr(name.size() + 1);
        } else {
            if (i + 1 >= argc) usage_error(std::string(name) + " needs a value");
            v = argv[++i];
        }
        const std::string what = std::string(name);
        if (name == "--table") {
            o.table = parse_table(v, what);
            has_table = true;
        } else if (name == "--peer-set-tables") {
            range = std::string(v);
            range_what = what;
        } else if (name == "--count") {
            if (!parse_uint(v, o.count) || o.count == 0)
                usage_error("invalid " + what + "='" + std::string(v) + "': expected a number of events >= 1");
            has_count = true;
        } else {
            double d = 0;
            auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d, std::chars_format::fixed);
            if (v.empty() || ec != std::errc() || p != v.data() + v.size() || !std::isfinite(d) || d <= 0 || d > 1e9)
                usage_error("invalid " + what + "='" + std::string(v) + "': expected seconds > 0 (e.g. 10 or 0.5)");
            o.duration = d;
        }
    }
    if (o.all && has_table) usage_error("--all and --table exclude each other");
    if (o.dump && o.all) usage_error("--dump shows the agent's tables: use --table N, not --all");
    if (o.all && !range_what.empty()) usage_error("--all and --peer-set-tables exclude each other");
    if (o.dump && (has_count || o.duration > 0)) usage_error("--count and --duration do not apply to --dump");
    if (!o.all && !has_table) {
        // Like the agent: unset and empty are the same.
        const char* env = std::getenv("TABLE_WEIGHT");
        if (env && *env) o.table = parse_table(env, "TABLE_WEIGHT");
    }
    if (!o.all) {
        if (range_what.empty()) {
            const char* env = std::getenv("PEER_SET_TABLES");
            range = env && *env ? env : "30001-30064";
            range_what = env && *env ? "PEER_SET_TABLES" : "the default peer-set tables";
        }
        auto t = nra::parse_peer_set_tables(range, o.table);
        if (!t) usage_error(range_what + ": " + t.error);
        o.tables = *t.value;
    }
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    try {
        auto parsed = parse_args(argc, argv);
        if (!parsed) return 0;
        o = std::move(*parsed);
    } catch (const UsageError& e) {
        std::fprintf(stderr, "nra-monitor: %s\n(see nra-monitor --help)\n", e.what());
        return 2;
    }
    std::setvbuf(stdout, nullptr, _IOLBF, 0);

    // Signals become an event on a descriptor, blocked before the socket
    // opens so that none is lost.
    nra::Fd sfd;
    if (!o.dump) {
        auto sig = nra::signal_fd({SIGINT, SIGTERM});
        if (!sig) {
            std::fprintf(stderr, "nra-monitor: %s\n", sig.error.c_str());
            return 1;
        }
        sfd = std::move(*sig.value);
    }
    int rc;
    try {
        nra::nl::Rtnl nl;
        if (!o.dump) {
            // Nexthop object events too (the neighbour events that come
            // with them are skipped); a kernel without them has no group.
            try {
                nl.subscribe_nexthops();
            } catch (const std::system_error&) {}
        }
        rc = o.dump ? run_dump(o, nl) : run_monitor(o, nl, sfd.get());
    } catch (const std::system_error& e) {
        std::fprintf(stderr, "nra-monitor: %s\n", e.what());
        rc = 1;
    }
    return rc;
}
