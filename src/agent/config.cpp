#include "nra/agent/config.hpp"

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <map>

#include "nra/base/text.hpp"

namespace nra {

namespace {

struct OptionSpec {
    const char* flag;  // without leading "--"
    const char* env;   // "" when there is no variable
    const char* def;   // shown in --help
    const char* help;
    bool boolean = false;  // flag may be given without a value
};

// The single table behind parsing and --help, so the two cannot drift apart.
const OptionSpec kOptions[] = {
    {"static-file", "METALLB_STATIC_FILE", "unset",
     "read the legacy MetalLB YAML from this file instead of Kubernetes"},
    {"static-file-wait", "METALLB_STATIC_FILE_WAIT", "5000",
     "ms between safety re-checks of the static file (changes are seen at once via inotify); 0 disables"},
    {"table", "TABLE_WEIGHT", "20", "routing table id to manage (1..4294967295, not 252-255)"},
    {"peer-set-tables", "PEER_SET_TABLES", "30001-30064",
     "tables for pools announced to some peers only, one per peer set: FIRST-LAST (at most 1024, not 0, 252-255 "
     "or TABLE_WEIGHT)"},
    {"peer-weight", "PEER_WEIGHT", "100", "weight of every nexthop (1..256)"},
    {"rule-priority", "RULE_PRIORITY", "20", "priority of every managed rule (1..4294967295)"},
    {"rule-fwmark", "RULE_FWMARK", "unset",
     "fwmark every managed rule also matches: MARK or MARK/MASK (hex 0x.. or decimal)"},
    {"destination", "DESTINATION", "default",
     "destination of the managed route: default, a CIDR, or one CIDR per family comma-separated"},
    {"nexthop-objects", "NEXTHOP_OBJECTS", "off",
     "auto: each route on a resilient nexthop group of one nexthop object per peer, dead peers (neighbour FAILED, "
     "link down) taken out (falls back to multipath routes on a kernel without them); off: multipath routes, no "
     "nexthop object touched"},
    {"nexthop-ids", "NEXTHOP_IDS", "4200-4999",
     "nexthop object ids the agent owns (MIN-MAX): objects there that are not its own are removed, others never "
     "touched"},
    {"nexthop-buckets", "NEXTHOP_BUCKETS", "128", "buckets of each resilient group (2..32768)"},
    {"nexthop-idle-timer", "NEXTHOP_IDLE_TIMER", "120",
     "seconds a bucket must be idle before it moves to another peer (1..3600)"},
    {"nexthop-unbalanced-timer", "NEXTHOP_UNBALANCED_TIMER", "0",
     "seconds after which an unbalanced group moves busy buckets too (0 = never, ..3600)"},
    {"max-reconcile-wait", "MAX_RECONCILE_WAIT", "60000",
     "ms between periodic reconciles (routes re-read each tick, rules every 10th); under 1000 means 1000; 0 disables"},
    {"pre-reconcile-script", "PRE_RECONCILE_SCRIPT_PATH", "unset",
     "executable run before each reconcile (10 s timeout)"},
    {"post-reconcile-script", "POST_RECONCILE_SCRIPT_PATH", "unset",
     "executable run after each reconcile (10 s timeout)"},
    {"namespace", "METALLB_NAMESPACE", "\"\"",
     "MetalLB namespace (\"\" = service-account namespace, then metallb-system)"},
    {"configmap-name", "METALLB_CONFIGMAP_NAME", "config", "legacy ConfigMap holding data.config"},
    {"use-crds", "METALLB_USE_CRDS", "false", "use the metallb.io CRDs instead of the ConfigMap", true},
    {"node-name", "NODE_NAME", "unset", "this node's name, for peer node selectors"},
    {"frrk8s-namespace", "FRRK8S_NAMESPACE", "\"\"",
     "namespace of frr-k8s's BGPSessionState objects, followed with NEXTHOP_OBJECTS=auto and NODE_NAME (\"\" = the "
     "MetalLB namespace)"},
    {"kubeconfig", "", "unset", "kubeconfig file to use (default: in-cluster, then $KUBECONFIG, then ~/.kube/config)"},
    {"context", "KUBE_CONTEXT", "unset",
     "kubeconfig context to use instead of its current-context (the in-cluster configuration is then not used)"},
    {"watch-silence-timeout", "KUBE_WATCH_SILENCE_TIMEOUT", "180",
     "seconds (decimals allowed, 0.5..3600) a Kubernetes watch may stay silent (no event, no bookmark) before it is "
     "reopened"},
    {"sync-timeout", "SYNC_TIMEOUT", "30000", "ms ONESHOT waits for the API server before failing (Kubernetes modes)"},
    {"log-level", "LOG_LEVEL", "info", "error|warn|info|verbose|debug|silly"},
    {"log-format", "LOG_FORMAT", "json", "json (one object per line) or text"},
    {"metrics-address", "METRICS_ADDRESS", "unset",
     "serve Prometheus metrics (/metrics), /healthz and /readyz on HOST:PORT, :PORT (every address) or [IPV6]:PORT; "
     "unset: no listener"},
    {"oneshot", "ONESHOT", "false", "reconcile once and exit (0 on success)", true},
    {"dry-run", "DRY_RUN", "false",
     "load the configuration as ONESHOT does, print the changes it would make on stdout (ip syntax with reasons; JSON "
     "lines when --log-format json is given) and touch nothing; exit 0 when the kernel already matches, 3 when changes "
     "are pending",
     true},
    {"clean-and-exit", "CLEANANDEXIT", "false", "delete every rule referencing the owned tables, flush them, exit",
     true},
};

struct Raw {
    std::string value;
    std::string source;  // "TABLE_WEIGHT" or "--table"
};

std::string quote(const Raw& r) { return r.source + "='" + r.value + "'"; }

std::optional<std::uint64_t> parse_uint(std::string_view s, int base = 10) {
    if (s.empty()) return std::nullopt;
    if (base == 0) {
        if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
            s.remove_prefix(2);
            base = 16;
        } else {
            base = 10;
        }
    }
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
    if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return v;
}

std::optional<std::chrono::milliseconds> parse_ms(const Raw& r, std::string& err) {
    auto v = parse_uint(r.value);
    if (!v || *v > 86400000ull * 365) {
        err = "invalid " + quote(r) + ": expected a non-negative number of milliseconds";
        return std::nullopt;
    }
    return std::chrono::milliseconds(*v);
}

bool validate(const std::map<std::string, Raw>& raw, Config& c, std::string& err) {
    auto get = [&](const char* flag) -> const Raw* {
        auto it = raw.find(flag);
        return it == raw.end() ? nullptr : &it->second;
    };
    if (auto* r = get("table")) {
        auto v = parse_uint(r->value);
        if (!v || *v > 0xffffffffull)
            return err = "invalid " + quote(*r) + ": expected a routing table id (1..4294967295)", false;
        if (*v == 0) return err = "refusing " + quote(*r) + ": table 0 is 'unspec' (all tables)", false;
        if (*v == 252) return err = "refusing " + quote(*r) + ": table 252 is reserved (compat)", false;
        if (*v == 253) return err = "refusing " + quote(*r) + ": table 253 is the kernel's 'default' table", false;
        if (*v == 254) return err = "refusing " + quote(*r) + ": table 254 is the 'main' table", false;
        if (*v == 255) return err = "refusing " + quote(*r) + ": table 255 is the 'local' table", false;
        c.settings.table = static_cast<std::uint32_t>(*v);
    }
    {
        const Raw* r = get("peer-set-tables");
        const Raw fallback{"30001-30064", "PEER_SET_TABLES (default)"};
        auto t = parse_peer_set_tables(r ? r->value : fallback.value, c.settings.table);
        if (!t) {
            const std::string e = t.error.substr(t.error.find(' ') + 1);  // after "invalid"/"refusing"
            return err = t.error.substr(0, t.error.find(' ')) + " " + (r ? r->source : fallback.source) + "=" + e,
                   false;
        }
        c.settings.peer_set_first = t.value->first;
        c.settings.peer_set_last = t.value->last;
    }
    if (auto* r = get("peer-weight")) {
        auto v = parse_uint(r->value);
        if (!v || *v < 1 || *v > 256) return err = "invalid " + quote(*r) + ": weight must be 1..256", false;
        c.settings.peer_weight = static_cast<std::uint16_t>(*v);
    }
    if (auto* r = get("nexthop-objects")) {
        if (r->value == "auto")
            c.nexthops.mode = NexthopSettings::Mode::Auto;
        else if (r->value == "off" || r->value.empty())
            c.nexthops.mode = NexthopSettings::Mode::Off;
        else
            return err = "invalid " + quote(*r) + ": expected auto or off", false;
    }
    if (auto* r = get("nexthop-ids"); r && !r->value.empty()) {
        const auto dash = r->value.find('-');
        auto lo = dash == std::string::npos ? std::nullopt : parse_uint(r->value.substr(0, dash));
        auto hi = dash == std::string::npos ? std::nullopt : parse_uint(r->value.substr(dash + 1));
        if (!lo || !hi || *lo < 1 || *hi > 0xffffffffull || *lo > *hi)
            return err = "invalid " + quote(*r) + ": expected MIN-MAX with 1 <= MIN <= MAX <= 4294967295", false;
        c.nexthops.id_min = static_cast<std::uint32_t>(*lo);
        c.nexthops.id_max = static_cast<std::uint32_t>(*hi);
    }
    if (auto* r = get("nexthop-buckets")) {
        auto v = parse_uint(r->value);
        if (!v || *v < 2 || *v > 32768) return err = "invalid " + quote(*r) + ": expected 2..32768 buckets", false;
        c.nexthops.buckets = static_cast<std::uint16_t>(*v);
    }
    if (auto* r = get("nexthop-idle-timer")) {
        auto v = parse_uint(r->value);
        if (!v || *v < 1 || *v > 3600) return err = "invalid " + quote(*r) + ": expected 1..3600 seconds", false;
        c.nexthops.idle_timer_s = static_cast<std::uint32_t>(*v);
    }
    if (auto* r = get("nexthop-unbalanced-timer")) {
        auto v = parse_uint(r->value);
        if (!v || *v > 3600) return err = "invalid " + quote(*r) + ": expected 0..3600 seconds", false;
        c.nexthops.unbalanced_timer_s = static_cast<std::uint32_t>(*v);
    }
    if (auto* r = get("rule-priority")) {
        auto v = parse_uint(r->value);
        if (!v || *v > 0xffffffffull)
            return err = "invalid " + quote(*r) + ": expected a rule priority (1..4294967295)", false;
        if (*v == 0) return err = "refusing " + quote(*r) + ": priority 0 is the local table's rule", false;
        c.settings.rule_priority = static_cast<std::uint32_t>(*v);
    }
    if (auto* r = get("rule-fwmark"); r && !r->value.empty()) {
        const auto slash = r->value.find('/');
        auto mark = parse_uint(std::string_view(r->value).substr(0, slash), 0);
        std::optional<std::uint64_t> mask = 0xffffffffull;
        if (slash != std::string::npos) mask = parse_uint(std::string_view(r->value).substr(slash + 1), 0);
        if (!mark || !mask || *mark > 0xffffffffull || *mask > 0xffffffffull)
            return err = "invalid " + quote(*r) + ": expected MARK or MARK/MASK, e.g. 0x14 or 0x14/0xff", false;
        if (*mask == 0) return err = "invalid " + quote(*r) + ": a mask of 0 matches every packet", false;
        if (*mark & ~*mask)
            return err = "invalid " + quote(*r) + ": the mark has bits outside the mask and can never match", false;
        c.settings.fwmark = static_cast<std::uint32_t>(*mark);
        c.settings.fwmask = static_cast<std::uint32_t>(*mask);
    }
    if (auto* r = get("destination"); r && r->value != "default") {
        bool have[2] = {false, false};
        std::string_view rest = r->value;
        while (true) {
            const auto comma = rest.find(',');
            const auto item = rest.substr(0, comma);
            auto p = parse_prefix(item, /*strict=*/true);
            if (!p) return err = "invalid " + quote(*r) + ": '" + std::string(item) + "': " + p.error, false;
            const bool v6 = p.value->family() == Family::V6;
            if (have[v6])
                return err = "invalid " + quote(*r) + ": more than one " + std::string(family_name(p.value->family())) +
                             " destination",
                       false;
            have[v6] = true;
            (v6 ? c.settings.destination_v6 : c.settings.destination_v4) = *p.value;
            if (comma == std::string_view::npos) break;
            rest = rest.substr(comma + 1);
        }
    }
    if (auto* r = get("max-reconcile-wait")) {
        auto v = parse_ms(*r, err);
        if (!v) return false;
        c.max_reconcile_wait = (v->count() > 0 && v->count() < 1000) ? std::chrono::milliseconds(1000) : *v;
    }
    if (auto* r = get("static-file-wait")) {
        auto v = parse_ms(*r, err);
        if (!v) return false;
        c.static_file_wait = *v;
    }
    if (auto* r = get("watch-silence-timeout")) {
        char* end = nullptr;
        const double secs = std::strtod(r->value.c_str(), &end);
        if (end == r->value.c_str() || *end != '\0' || !(secs >= 0.5 && secs <= 3600))
            return err = "invalid " + quote(*r) + ": expected seconds between 0.5 and 3600", false;
        c.kube.watch_silence = std::chrono::milliseconds(static_cast<long long>(secs * 1000));
    }
    if (auto* r = get("sync-timeout")) {
        auto v = parse_ms(*r, err);
        if (!v) return false;
        if (v->count() == 0) return err = "invalid " + quote(*r) + ": must be positive", false;
        c.sync_timeout = *v;
    }
    if (auto* r = get("log-level")) {
        auto l = log::parse_level(r->value);
        if (!l) return err = "invalid " + quote(*r) + ": expected error, warn, info, verbose, debug or silly", false;
        c.log_level = *l;
    }
    if (auto* r = get("log-format")) {
        c.log_format_set = true;
        if (r->value == "json")
            c.log_format = log::Format::Json;
        else if (r->value == "text")
            c.log_format = log::Format::Text;
        else
            return err = "invalid " + quote(*r) + ": expected json or text", false;
    }
    for (const auto& [flag, target] : {std::pair<const char*, bool*>{"use-crds", &c.kube.use_crds},
                                       {"oneshot", &c.oneshot},
                                       {"dry-run", &c.dry_run},
                                       {"clean-and-exit", &c.clean_and_exit}}) {
        if (auto* r = get(flag)) {
            auto b = parse_bool(r->value);
            if (!b) return err = "invalid " + quote(*r) + ": expected 1/true/yes/on or 0/false/no/off", false;
            *target = *b;
        }
    }
    if (auto* r = get("static-file")) c.static_file = r->value;
    if (auto* r = get("pre-reconcile-script")) c.pre_script = r->value;
    if (auto* r = get("post-reconcile-script")) c.post_script = r->value;
    if (auto* r = get("namespace")) c.kube.namespace_override = r->value;
    if (auto* r = get("configmap-name")) {
        if (r->value.empty()) return err = "invalid " + quote(*r) + ": empty ConfigMap name", false;
        c.kube.configmap_name = r->value;
    }
    if (auto* r = get("node-name")) c.kube.node_name = r->value;
    if (auto* r = get("frrk8s-namespace")) c.kube.frrk8s_namespace = r->value;
    if (auto* r = get("metrics-address")) {
        auto a = http::parse_listen_address(r->value);
        if (!a) return err = "invalid " + quote(*r) + ": " + a.error, false;
        c.metrics_address = *a.value;
    }
    if (auto* r = get("kubeconfig")) c.kube.kubeconfig = r->value;
    if (auto* r = get("context")) c.kube.context = r->value;
    return true;
}

}  // namespace

ConfigResult load_config(const std::vector<std::string>& args, const GetEnv& getenv) {
    ConfigResult res;
    std::map<std::string, Raw> raw;
    for (const auto& o : kOptions) {
        if (!*o.env) continue;
        const char* v = getenv(o.env);
        // Unset and empty are the same, as upstream treated them.
        if (v && *v) raw[o.flag] = Raw{v, o.env};
    }
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--help" || a == "-h") {
            res.help = true;
            return res;
        }
        if (a == "--version" || a == "-V") {
            res.version = true;
            return res;
        }
        if (a.rfind("--", 0) != 0) {
            res.error = "unexpected argument '" + a + "' (see --help)";
            return res;
        }
        const auto eq = a.find('=');
        const std::string name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
        const OptionSpec* spec = nullptr;
        for (const auto& o : kOptions)
            if (name == o.flag) spec = &o;
        if (!spec) {
            res.error = "unknown option '--" + name + "' (see --help)";
            return res;
        }
        std::string value;
        if (eq != std::string::npos) {
            value = a.substr(eq + 1);
        } else if (spec->boolean) {
            value = "true";
        } else if (i + 1 < args.size()) {
            value = args[++i];
        } else {
            res.error = "option '--" + name + "' needs a value";
            return res;
        }
        raw[spec->flag] = Raw{value, "--" + name};
    }
    Config c;
    if (!validate(raw, c, res.error)) return res;
    if (c.oneshot && c.clean_and_exit) {
        res.error = "ONESHOT and CLEANANDEXIT are mutually exclusive";
        return res;
    }
    res.config = std::move(c);
    return res;
}

std::string usage_text() {
    std::string s =
        "Usage: metallb-nra [OPTIONS]\n"
        "\n"
        "Keeps Linux policy routing so replies from MetalLB LoadBalancer IPs leave through\n"
        "the BGP peers: one routing table with an ECMP route via the peers and one rule per\n"
        "BGP pool CIDR pointing at it (IPv4 and IPv6); pools announced to some peers only\n"
        "(BGPAdvertisement spec.peers) get a table per peer set from PEER_SET_TABLES.\n"
        "Everything else referencing the owned tables is removed as an imposter; nothing\n"
        "outside them is touched.\n"
        "\n"
        "Every option can also be set by the environment variable shown (the upstream\n"
        "agent's names and defaults); a flag wins over its variable. Booleans accept\n"
        "1/true/yes/on and 0/false/no/off.\n"
        "\n";
    for (const auto& o : kOptions) {
        std::string left = std::string("  --") + o.flag + (o.boolean ? "[=BOOL]" : "=VALUE");
        if (left.size() < 32)
            left.resize(32, ' ');
        else
            left += "\n" + std::string(32, ' ');
        s += left + o.help + "\n" + std::string(32, ' ') +
             (*o.env ? "env " + std::string(o.env) + ", " : std::string()) + "default " + o.def + "\n";
    }
    s += "  --help                        show this help and exit\n"
         "  --version                     show the version and exit\n"
         "\n"
         "Configuration source: METALLB_STATIC_FILE if set, else the Kubernetes API\n"
         "(ConfigMap, or the metallb.io CRDs with METALLB_USE_CRDS).\n"
         "\n"
         "Exit status: 0 success (and on SIGTERM/SIGINT), 1 runtime failure (ONESHOT could\n"
         "not load the config or reconcile), 2 invalid or dangerous settings (nothing touched),\n"
         "3 DRY_RUN: changes are pending (0 when the kernel already matches).\n";
    return s;
}

}  // namespace nra
