// The agent's wiring: the configuration source, the kernel (netlink), the
// mirror and reconciler, the fight limiter and the timers on one event loop,
// and the modes (daemon, ONESHOT, CLEANANDEXIT). The logic lives in the units
// it wires: mirror.cpp, reconciler.cpp, fight.cpp and the pure core.
#include "nra/agent/agent.hpp"

#include <malloc.h>
#include <signal.h>
#include <sys/signalfd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <functional>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "nra/agent/fight.hpp"
#include "nra/agent/kernel.hpp"
#include "nra/agent/mirror.hpp"
#include "nra/agent/nexthops.hpp"
#include "nra/agent/reconciler.hpp"
#include "nra/base/child.hpp"
#include "nra/base/http_server.hpp"
#include "nra/base/loop.hpp"
#include "nra/base/metrics.hpp"
#include "nra/base/signals.hpp"
#include "nra/kube/config.hpp"
#include "nra/core/bgp_session.hpp"
#include "nra/core/peer_path.hpp"
#include "nra/netlink/rtnl.hpp"
#include "nra/sources/kube_source.hpp"
#include "nra/sources/legacy_text.hpp"
#include "nra/sources/static_file.hpp"

namespace nra {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kScriptTimeout = std::chrono::seconds(10);
// Heap is trimmed after a reconcile that changed or read this many objects.
constexpr std::size_t kTrimAfter = 1000;
// Every kFullResyncTicks-th periodic tick re-reads the rules in full.
constexpr unsigned kFullResyncTicks = 10;
constexpr auto kRetryInitial = std::chrono::milliseconds(1000);
constexpr auto kRetryMax = std::chrono::milliseconds(30000);

void log_warnings(const std::vector<Diagnostic>& warnings) {
    for (const auto& w : warnings)
        log::warn("DANGER: configuration applied as written", {{"where", w.where}, {"warning", w.what}});
}

long long micros(Clock::time_point t0) {
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
}

constexpr std::string_view kMetricsPrefix = "metallb_nra_";
constexpr int kExitChangesPending = 3;  // DRY_RUN: the kernel does not match yet

std::string family_label(Family f) { return f == Family::V6 ? "inet6" : "inet"; }

// The op as the `ip` command that makes the same change.
std::string ip_command(const Op& op) {
    const bool v6 =
        std::holds_alternative<Rule>(op.object) ? op.rule().family == Family::V6 : op.route().family == Family::V6;
    std::string obj = object_text(op);
    if (v6 && obj.rfind("-6 ", 0) == 0) obj.erase(0, 3);
    std::string verb;
    switch (op.kind) {
    case OpKind::AddRule:
    case OpKind::AppendRule:
        verb = "rule add";
        break;
    case OpKind::DelRule:
        verb = "rule del";
        break;
    case OpKind::ReplaceRoute:
        verb = "route replace";
        break;
    case OpKind::DelRoute:
        verb = "route del";
        break;
    }
    return std::string("ip ") + (v6 ? "-6 " : "") + verb + " " + obj;
}

void describe_metrics(metrics::Registry& m) {
    using metrics::Type;
    m.describe("build_info", Type::Gauge, "Always 1; the version of the agent.");
    m.describe("reconciles_total", Type::Counter, "Reconciles by trigger and result.");
    m.describe("changes_total", Type::Counter, "Changes applied to the kernel, by object kind, operation and reason.");
    m.describe("imposters_removed_total", Type::Counter,
               "Objects referencing the managed table that were not ours, removed, by kind.");
    m.describe("last_successful_reconcile_timestamp_seconds", Type::Gauge,
               "Unix time of the last reconcile that left the kernel as desired.");
    m.describe("last_reconcile_duration_seconds", Type::Gauge, "Duration of the last reconcile (without scripts).");
    m.describe("desired_rules", Type::Gauge, "Rules the configuration asks for, by family and table.");
    m.describe("desired_routes", Type::Gauge, "Routes the configuration asks for, by family and table.");
    m.describe("desired_nexthops", Type::Gauge, "Nexthops (peers) of the desired routes, by family and table.");
    m.describe("installed_rules", Type::Gauge,
               "Rules referencing the managed table in the kernel, by family and table.");
    m.describe("installed_routes", Type::Gauge, "Routes in the managed table in the kernel, by family and table.");
    m.describe("peers_skipped", Type::Gauge, "Peers of the configuration that are not nexthops, by reason.");
    m.describe("peer_unusable", Type::Gauge,
               "1 for each configured peer that cannot be reached through its lookup table (main or its VRF's), "
               "by peer, vrf and reason.");
    m.describe("config_synced", Type::Gauge, "1 once a first good configuration was loaded.");
    m.describe("config_loads_total", Type::Counter,
               "Configurations delivered by the source (changed), and refused ones (error).");
    m.describe("config_last_error_timestamp_seconds", Type::Gauge,
               "Unix time the source last refused its input (0: never).");
    m.describe("source_lists_total", Type::Counter,
               "Kubernetes lists started (each stream's first included: more mean relists).");
    m.describe("source_watches_total", Type::Counter,
               "Kubernetes watches opened (re-opened after a timeout, a cut or silence included).");
    m.describe("source_expired_total", Type::Counter,
               "Kubernetes 410 Gone/Expired answers (each followed by a relist).");
    m.describe("source_errors_total", Type::Counter, "Kubernetes requests that failed and were retried with backoff.");
    m.describe("fights_rate_limited_total", Type::Counter,
               "Corrections deferred because another writer keeps undoing them.");
    m.describe("netlink_overruns_total", Type::Counter, "Netlink event overruns (events lost; everything re-read).");
    m.describe("reconcile_failures_total", Type::Counter,
               "Reconciles the kernel did not complete (refused change, failed dump).");
    m.describe("script_runs_total", Type::Counter, "Pre/post reconcile script runs by phase and result.");
    m.set("build_info", {{"version", NRA_VERSION}}, 1);
}

double unix_now() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

class Agent {
public:
    explicit Agent(const Config& c) : cfg_(c), mirror_(c.settings.tables()), fights_(Clock::now()) {
        describe_metrics(metrics_);
    }

    int run() {
        try {
            rtnl_ = std::make_unique<nl::Rtnl>(nl::Rtnl::Follow::LinksAndAddresses);
        } catch (const std::exception& e) {
            log::error("cannot open rtnetlink", {{"error", e.what()}});
            return 1;
        }
        kernel_ = std::make_unique<RtnlKernel>(*rtnl_);
        reconciler_ = std::make_unique<Reconciler>(*kernel_, mirror_);
        if (cfg_.nexthops.mode == NexthopSettings::Mode::Auto) start_nexthops();
        if (cfg_.clean_and_exit) return cfg_.dry_run ? dry_run_clean() : clean();
        recover_placement();
        refresh_local_addresses();
        return run_loop();
    }

private:
    // NEXTHOP_OBJECTS=auto: nexthop and neighbour events joined before any
    // dump, the node's neighbours and subnets read once.
    void start_nexthops() {
        nh_.emplace(cfg_.nexthops);
        try {
            rtnl_->subscribe_nexthops();
        } catch (const std::exception& e) {
            nh_->fall_back(e.what());
        }
        mirror_.follow_nexthops(cfg_.nexthops.id_min, cfg_.nexthops.id_max);
        reconciler_->set_nexthops(&*nh_);
        if (auto n = kernel_->dump_neighbours()) {
            const auto now = Clock::now();
            for (const auto& x : *n.value) nh_->neighbour(x, false, now);
        } else {
            log::warn("cannot read the neighbour table; peers are judged by later events only", {{"error", n.error}});
        }
        log::info("nexthop objects",
                  {{"mode", nh_->objects() ? "auto" : "fallback"},
                   {"ids", std::to_string(cfg_.nexthops.id_min) + "-" + std::to_string(cfg_.nexthops.id_max)},
                   {"buckets", cfg_.nexthops.buckets},
                   {"idle_timer_s", cfg_.nexthops.idle_timer_s},
                   {"unbalanced_timer_s", cfg_.nexthops.unbalanced_timer_s}});
    }

    // Peer liveness from what the drain saw: a change reconciles at once
    // (like a link coming back: no script, no fight limit).
    void note_liveness(const KernelMirror::Seen& seen) {
        if (!nh_) return;
        if (seen.nexthops || seen.overrun) nh_->invalidate();
        const auto now = Clock::now();
        bool changed = false;
        for (const auto& x : seen.neighbours) changed |= nh_->neighbour(x.n, x.deleted, now);
        for (const auto& [ifindex, up] : seen.links) changed |= nh_->link(ifindex, up, now);
        if (changed) {
            links_dirty_ = true;
            schedule_liveness_tick();
        }
    }

    // The BGP session states (frr-k8s) of the configured on-link peers to
    // the liveness: a change reconciles at once, like a neighbour event.
    void feed_sessions() {
        if (!nh_) return;
        auto by_gateway =
            model_ ? sessions_by_gateway(sessions_, model_->peers, paths_) : std::map<IpAddr, BgpSession>{};
        if (nh_->set_sessions(std::move(by_gateway), Clock::now())) {
            links_dirty_ = true;
            schedule_liveness_tick();
        }
    }

    // A flapping peer's comeback waits out its hold: look again then.
    void schedule_liveness_tick() {
        if (!nh_ || liveness_tick_pending_) return;
        const auto when = nh_->next_tick();
        if (!when) return;
        liveness_tick_pending_ = true;
        const auto wait =
            std::chrono::duration_cast<std::chrono::milliseconds>(*when - Clock::now()) + std::chrono::milliseconds(1);
        loop_.after(std::max(wait, std::chrono::milliseconds(1)), [this] {
            liveness_tick_pending_ = false;
            if (nh_->tick(Clock::now())) links_dirty_ = true;
            schedule_liveness_tick();
            loop_.wake();
        });
    }

    // ---- modes ---------------------------------------------------------
    int clean() {
        const auto t0 = Clock::now();
        const auto out = reconciler_->clean();
        if (out.ok) log::info("tables cleaned", {{"tables", mirror_.tables().str()}, {"elapsed_us", micros(t0)}});
        return out.ok ? 0 : 1;
    }

    // DRY_RUN: the changes on stdout, one per line (`ip` syntax and reason),
    // or one JSON object per line when --log-format json (LOG_FORMAT=json) is
    // given explicitly; the log stays on stderr.
    int print_changes(const std::vector<Op>& ops) {
        for (const Op& op : ops) {
            const std::string cmd = ip_command(op);
            const std::string reason(reason_name(op.reason));
            if (cfg_.log_format_set && cfg_.log_format == log::Format::Json)
                std::printf("{\"op\":\"%s\",\"object\":\"%s\",\"command\":\"%s\",\"reason\":\"%s\"}\n",
                            std::string(op_kind_name(op.kind)).c_str(), log::json_escape(object_text(op)).c_str(),
                            log::json_escape(cmd).c_str(), reason.c_str());
            else
                std::printf("%s  # %s\n", cmd.c_str(), reason.c_str());
        }
        std::fflush(stdout);
        log::info(ops.empty() ? "dry run: the kernel already matches the configuration" : "dry run: changes pending",
                  {{"changes", ops.size()}});
        return ops.empty() ? 0 : kExitChangesPending;
    }

    int dry_run_clean() {
        auto r = mirror_.refresh(*kernel_);
        if (!r) {
            log::error("cannot read the kernel's rules and routes", {{"error", r.error}});
            return 1;
        }
        return print_changes(plan_clean(mirror_.observed()));
    }

    void dry_run() {
        auto nh_ops = reconciler_->preview_nexthops(*desired_);
        if (!nh_ops) {
            log::error("cannot read the kernel's nexthop objects", {{"error", nh_ops.error}});
            return finish(1);
        }
        for (const NhOp& op : *nh_ops.value) {
            const std::string cmd =
                std::string("ip nexthop ") + (op.kind == NhOpKind::Del ? "del " : "replace ") + op.object.str();
            const std::string reason(reason_name(op.reason));
            if (cfg_.log_format_set && cfg_.log_format == log::Format::Json)
                std::printf("{\"op\":\"%s\",\"object\":\"%s\",\"command\":\"%s\",\"reason\":\"%s\"}\n",
                            op.kind == NhOpKind::Del ? "delete nexthop" : "replace nexthop",
                            log::json_escape(op.object.str()).c_str(), log::json_escape(cmd).c_str(), reason.c_str());
            else
                std::printf("%s  # %s\n", cmd.c_str(), reason.c_str());
        }
        auto ops = reconciler_->preview(*desired_);
        if (!ops) {
            log::error("cannot read the kernel's rules and routes", {{"error", ops.error}});
            return finish(1);
        }
        const int rc = print_changes(*ops.value);
        finish(rc == 0 && !nh_ops.value->empty() ? kExitChangesPending : rc);
    }

    // /metrics, /healthz (the loop answers, so it is alive) and /readyz (a
    // first configuration loaded and reconciled).
    http::Response serve(const http::Request& req) {
        if (req.path == "/healthz") return {200, "text/plain; charset=utf-8", "ok\n"};
        if (req.path == "/readyz") {
            if (ready_) return {200, "text/plain; charset=utf-8", "ok\n"};
            return {503, "text/plain; charset=utf-8",
                    desired_ ? "not ready: the first reconcile has not succeeded yet\n"
                             : "not ready: no configuration loaded yet\n"};
        }
        if (req.path == "/metrics") {
            update_state_metrics();
            return {200, "text/plain; version=0.0.4; charset=utf-8", metrics_.render(kMetricsPrefix)};
        }
        return {404, "text/plain; charset=utf-8", "not found: try /metrics, /healthz or /readyz\n"};
    }

    // Gauges read from the state at scrape time (nothing is counted on the
    // hot path).
    void update_state_metrics() {
        for (const char* name :
             {"desired_rules", "desired_routes", "desired_nexthops", "installed_rules", "installed_routes"})
            metrics_.clear(name);
        // Per family and table; TABLE_WEIGHT always (zeros included).
        struct Counts {
            double rules = 0, routes = 0, hops = 0, have_rules = 0, have_routes = 0;
        };
        std::map<std::pair<std::uint32_t, Family>, Counts> by;
        for (Family f : {Family::V4, Family::V6}) by[{cfg_.settings.table, f}];
        if (desired_) {
            for (const Rule& r : desired_->rules) ++by[{r.table, r.family}].rules;
            for (const Route& r : desired_->routes) {
                auto& c = by[{r.table, r.family}];
                ++c.routes;
                c.hops += static_cast<double>(r.nexthops.size());
            }
        }
        for (const Rule& r : mirror_.rules()) ++by[{r.table, r.family}].have_rules;
        for (const Route& r : mirror_.routes()) ++by[{r.table, r.family}].have_routes;
        for (const auto& [key, c] : by) {
            const metrics::Labels l{{"family", family_label(key.second)}, {"table", std::to_string(key.first)}};
            metrics_.set("desired_rules", l, c.rules);
            metrics_.set("desired_routes", l, c.routes);
            metrics_.set("desired_nexthops", l, c.hops);
            metrics_.set("installed_rules", l, c.have_rules);
            metrics_.set("installed_routes", l, c.have_routes);
        }
        metrics_.set("peers_skipped", {{"reason", "local_address"}},
                     desired_ ? static_cast<double>(desired_->local_peers.size()) : 0);
        metrics_.set("peers_skipped", {{"reason", "ipv6_link_local"}},
                     desired_ ? static_cast<double>(desired_->link_local_peers) : 0);
        metrics_.set("peers_skipped", {{"reason", "unusable"}},
                     desired_ ? static_cast<double>(desired_->unusable_peers.size()) : 0);
        metrics_.clear("peer_unusable");
        if (desired_)
            for (const UnusablePeer& u : desired_->unusable_peers)
                metrics_.set("peer_unusable", {{"peer", u.peer.address.str()}, {"vrf", u.peer.vrf}, {"reason", u.kind}},
                             1);
        metrics_.set("config_synced", desired_ ? 1 : 0);
        if (source_) {
            const auto st = source_->stats();
            metrics_.set("source_lists_total", static_cast<double>(st.lists));
            metrics_.set("source_watches_total", static_cast<double>(st.watches));
            metrics_.set("source_expired_total", static_cast<double>(st.expired));
            metrics_.set("source_errors_total", static_cast<double>(st.errors));
        }
    }

    void start_metrics_server() {
        if (!cfg_.metrics_address || cfg_.oneshot || cfg_.dry_run) return;
        http_ = std::make_unique<http::Server>(loop_, [this](const http::Request& r) { return serve(r); });
        http_->listen(*cfg_.metrics_address);  // throws with the address on failure
        log::info("serving metrics and probes",
                  {{"port", http_->port()},
                   {"address", cfg_.metrics_address->host.empty() ? std::string("*") : cfg_.metrics_address->host}});
    }

    // The daemon, and ONESHOT: the same source; ONESHOT reconciles the first
    // configuration it delivers and exits.
    int run_loop() {
        try {
            KubeOptions kube = cfg_.kube;
            kube.list_only = cfg_.oneshot || cfg_.dry_run;  // ONESHOT lists once, reconciles, exits
            kube.bgp_sessions = cfg_.nexthops.mode == NexthopSettings::Mode::Auto;  // dead-peer removal only there
            source_ = cfg_.static_file.empty() ? make_kube_source(kube)
                                               : make_static_file_source(cfg_.static_file, cfg_.static_file_wait);
        } catch (const kube::UnknownContext& e) {
            log::error("cannot set up the configuration source", {{"error", e.what()}});
            return 2;  // a usage error, like an invalid flag
        } catch (const std::exception& e) {
            log::error("cannot set up the configuration source", {{"error", e.what()}});
            return 1;
        }
        if (!setup_signals()) return 1;
        try {
            start_metrics_server();
        } catch (const std::exception& e) {
            log::error("cannot serve metrics", {{"error", e.what()}});
            return 1;
        }
        loop_.add(rtnl_->event_fd(), EPOLLIN, [this](std::uint32_t) { on_netlink(); });
        loop_.after_dispatch([this] { maybe_reconcile(); });
        loop_.after_dispatch([this] { watch_log_output(); });
        const bool once = cfg_.oneshot || cfg_.dry_run;
        if (!once && cfg_.max_reconcile_wait.count() > 0) schedule_periodic();
        if (once) {
            loop_.after(cfg_.sync_timeout, [this] {
                log::error("ONESHOT: no configuration from the source in time; nothing changed",
                           {{"source", source_->describe()},
                            {"timeout_ms", static_cast<long long>(cfg_.sync_timeout.count())}});
                finish(1);
            });
        }
        log::info("starting", {{"source", source_->describe()},
                               {"table", cfg_.settings.table},
                               {"peer_set_tables", std::to_string(cfg_.settings.peer_set_first) + "-" +
                                                       std::to_string(cfg_.settings.peer_set_last)},
                               {"rule_priority", cfg_.settings.rule_priority},
                               {"oneshot", cfg_.oneshot},
                               {"dry_run", cfg_.dry_run}});
        Source::Callbacks cb;
        cb.config = [this](Model m) {
            metrics_.inc("config_loads_total", {{"result", "changed"}});
            on_model(std::move(m));
        };
        cb.failed = [this](const std::string& error) {
            metrics_.inc("config_loads_total", {{"result", "error"}});
            metrics_.set("config_last_error_timestamp_seconds", unix_now());
            if (!cfg_.oneshot && !cfg_.dry_run) return;  // the daemon keeps its last good configuration
            log::error("ONESHOT: cannot load the configuration; nothing changed",
                       {{"source", source_->describe()}, {"error", error}});
            finish(1);
        };
        cb.sessions = [this](BgpSessions s) {
            sessions_ = std::move(s);
            feed_sessions();
        };
        source_->start(loop_, std::move(cb));
        loop_.wake();  // a source may deliver its first config synchronously in start()
        if (!stopped_) loop_.run();
        return exit_code_;
    }

    void finish(int code) {
        exit_code_ = code;
        stopped_ = true;
        loop_.stop();
    }

    // ---- inputs --------------------------------------------------------
    void on_model(Model m) {
        if (set_model(std::move(m))) config_dirty_ = true;
    }

    // Returns true when the desired state changed.
    bool set_model(Model m) {
        model_ = std::move(m);
        update_paths();
        feed_sessions();
        Desired d = derive();
        log_skipped_entries("desired state", d.diagnostics);
        log_warnings(d.warnings);
        return set_desired(std::move(d));
    }

    Desired derive() const { return desired_state(*model_, cfg_.settings, local_addrs_, &paths_, placement()); }

    // ---- peer paths ----------------------------------------------------
    // How every peer is reached: through the routes of its lookup table
    // (main, or its VRF's), kept from dumps that route, link and address
    // events (and the periodic tick) invalidate. Returns true when a peer's
    // path changed; each change of a peer's state is logged once.
    bool update_paths() {
        if (!model_) return false;
        bool any_vrf = false;
        for (const Peer& p : model_->peers) any_vrf |= !p.vrf.empty();
        if (lookup_dirty_) {
            lookup_routes_.clear();
            links_.clear();
            links_loaded_ = false;
        }
        lookup_dirty_ = false;
        if (any_vrf && !links_loaded_) {
            auto l = kernel_->dump_links();
            if (!l) return lookup_failed("links", l.error);
            links_ = std::move(*l.value);
            links_loaded_ = true;
        }
        PeerPaths next;
        std::set<std::uint32_t> tables{kMainTable};
        for (const Peer& p : model_->peers) {
            PeerKey key{p.address, p.vrf};
            if (next.count(key)) continue;
            std::uint32_t table = kMainTable;
            std::string name = "main";
            if (!p.vrf.empty()) {
                auto it = std::find_if(links_.begin(), links_.end(),
                                       [&](const nl::Link& l) { return l.is_vrf && l.name == p.vrf; });
                if (it == links_.end()) {
                    next.emplace(std::move(key), unusable_vrf(p.vrf));
                    continue;
                }
                table = it->vrf_table;
                name = std::to_string(table) + " (VRF " + p.vrf + ")";
            }
            tables.insert(table);
            auto routes = lookup_routes_.find(table);
            if (routes == lookup_routes_.end()) {
                auto r = kernel_->dump(TableSet{table}, false, true);
                if (!r) return lookup_failed("routes of table " + name, r.error);
                routes = lookup_routes_.emplace(table, std::move(r.value->routes)).first;
            }
            next.emplace(std::move(key), resolve_peer(p.address, routes->second, name));
        }
        std::erase_if(tables, [&](std::uint32_t t) { return mirror_.tables().contains(t); });
        mirror_.set_lookup_tables(std::move(tables));
        if (next == paths_) return false;
        for (const auto& [key, path] : next) {
            auto old = paths_.find(key);
            const bool was = old != paths_.end();
            if (!path.usable()) {
                if (!was || old->second.reason != path.reason)
                    log::warn("peer cannot be a nexthop; the route carries the other peers",
                              {{"peer", key.address.str()}, {"vrf", key.vrf}, {"reason", path.reason}});
            } else if (!was || old->second.hops != path.hops) {
                std::string via;
                for (const Nexthop& h : path.hops) via += (via.empty() ? "" : ",") + h.gateway.str();
                const bool back = was && !old->second.usable();
                log::write(
                    back || path.recursive ? log::Level::Info : log::Level::Debug,
                    back ? "peer can be a nexthop again" : "peer path",
                    {{"peer", key.address.str()}, {"vrf", key.vrf}, {"via", via}, {"recursive", path.recursive}});
            }
        }
        paths_ = std::move(next);
        feed_sessions();
        return true;
    }

    // A failed dump keeps the last paths; retried on the next event or tick
    // (never at once: a failing dump must not spin the loop).
    bool lookup_failed(const std::string& what, const std::string& error) {
        log::error("cannot read the " + what + " peers are resolved through; keeping their last paths",
                   {{"error", error}});
        return false;
    }

    bool set_desired(Desired d) {
        if (desired_ && desired_->rules == d.rules && desired_->routes == d.routes) {
            desired_->local_peers = std::move(d.local_peers);
            desired_->unusable_peers = std::move(d.unusable_peers);
            return false;
        }
        log::info("desired state", {{"rules", d.rules.size()},
                                    {"routes", d.routes.size()},
                                    {"cidrs", d.cidrs.size()},
                                    {"peers", model_ ? model_->peers.size() : 0},
                                    {"peer_set_tables", d.peer_sets.size()}});
        for (const PeerSetTable& ps : d.peer_sets) {
            std::string peers;
            for (const IpAddr& a : ps.peers) peers += (peers.empty() ? "" : ",") + a.str();
            log::info(
                "peer set table",
                {{"table", ps.table}, {"family", family_label(ps.family)}, {"peers", peers}, {"cidrs", ps.cidrs}});
        }
        desired_ = std::move(d);
        return true;
    }

    // The table each pool CIDR looks up now: the last desired state's, or
    // before the first one what the kernel's rules said at start, so that a
    // peer set keeps its table across changes and restarts.
    TablePlacement placement() const {
        if (!desired_) return recovered_;
        std::vector<const Rule*> rules;
        rules.reserve(desired_->rules.size());
        for (const Rule& r : desired_->rules) rules.push_back(&r);
        return placement_of(rules, mirror_.tables(), cfg_.settings.protocol);
    }

    void recover_placement() {
        auto r = mirror_.refresh(*kernel_);
        if (!r) {
            log::warn("cannot read the kernel's rules at start; peer sets get the lowest free tables",
                      {{"error", r.error}});
            return;
        }
        recovered_ = placement_of(mirror_.rule_view(), mirror_.tables(), cfg_.settings.protocol);
    }

    // The node's addresses decide which peers are local (never a gateway).
    // Re-read in full after any address event: a node has few addresses,
    // and the same address may sit on several links.
    void refresh_local_addresses() {
        auto a = kernel_->dump_addresses();
        if (!a) {
            log::error("cannot read the node's addresses; will retry on the next address change or tick",
                       {{"error", a.error}});
            addrs_dirty_ = false;  // not at once: a failing dump must not spin the loop
            addrs_failed_ = true;
            return;
        }
        addrs_dirty_ = addrs_failed_ = false;
        if (nh_) {
            // Which link each peer is on (a nexthop object needs it).
            if (auto i = kernel_->dump_interface_addresses()) {
                nh_->set_addresses(*i.value);
                config_dirty_ |= desired_.has_value();  // the layout may change
            }
        }
        std::set<IpAddr> now(a.value->begin(), a.value->end());
        if (now == local_addrs_) return;
        local_addrs_ = std::move(now);
        if (!model_ || !desired_) return;
        Desired d = derive();
        for (const IpAddr& p : d.local_peers)
            if (!desired_->local_peers.count(p))
                log::warn("peer skipped: it is now a local address",
                          {{"peer", p.str()}, {"reason", local_peer_reason(p, local_addrs_)}});
        for (const IpAddr& p : desired_->local_peers)
            if (!d.local_peers.count(p))
                log::info("peer is no longer a local address; used again", {{"peer", p.str()}});
        if (set_desired(std::move(d))) config_dirty_ = true;
    }

    void on_netlink() { note(mirror_.drain(*kernel_)); }

    // What the kernel's events (or the echoes read while applying) say.
    void note(const KernelMirror::Seen& seen) {
        if (seen.overrun) {
            log::warn("netlink event overrun; resynchronising from a full dump");
            metrics_.inc("netlink_overruns_total");
        }
        if (!seen.error.empty()) log::error("netlink event socket error", {{"error", seen.error}});
        kernel_dirty_ |= seen.foreign;
        links_dirty_ |= seen.interface;
        addrs_dirty_ |= seen.address;
        // Links and addresses take routes with them, often silently.
        lookup_dirty_ |= seen.lookup || seen.interface;
        note_liveness(seen);
    }

    // Log lines the reader has not taken yet are written when it can take
    // more: the output is watched for EPOLLOUT only while lines are queued.
    void watch_log_output() {
        const bool want = log::pending();
        if (want == log_watched_) return;
        const int fd = log::output_fd();
        if (want) {
            loop_.add(fd, EPOLLOUT, [this, fd](std::uint32_t) {
                log::flush();
                if (!log::pending()) {
                    loop_.remove(fd);
                    log_watched_ = false;
                }
            });
        } else {
            loop_.remove(fd);
        }
        log_watched_ = want;
    }

    bool setup_signals() {
        auto fd = signal_fd({SIGTERM, SIGINT, SIGHUP});
        if (!fd) {
            log::error("cannot receive signals", {{"error", fd.error}});
            return false;
        }
        sigfd_ = std::move(*fd.value);
        loop_.add(sigfd_.get(), EPOLLIN, [this](std::uint32_t) {
            signalfd_siginfo si;
            while (::read(sigfd_.get(), &si, sizeof si) == sizeof si) {
                if (si.ssi_signo == SIGHUP) {
                    log::info("SIGHUP: full resync");
                    timer_due_ = true;
                    mirror_.invalidate();
                    continue;
                }
                log::info("signal received; exiting and leaving routing in place",
                          {{"signal", strsignal(static_cast<int>(si.ssi_signo))}});
                finish(0);
            }
        });
        return true;
    }

    void schedule_periodic() {
        loop_.after(cfg_.max_reconcile_wait, [this] {
            timer_due_ = true;
            // Routes can vanish without a notification: re-read them every
            // tick. Rules are always announced, so the event-maintained
            // mirror is exact unless events were lost (ENOBUFS resyncs at
            // once); it is re-read in full every kFullResyncTicks ticks
            // anyway, and on SIGHUP.
            mirror_.invalidate_routes();
            if (addrs_failed_) addrs_dirty_ = true;
            lookup_dirty_ = true;  // routes can vanish without a notification
            if (++ticks_ % kFullResyncTicks == 0) {
                mirror_.invalidate_rules();
                addrs_dirty_ = true;
            }
            schedule_periodic();
        });
    }

    // ---- reconcile -----------------------------------------------------
    // Scripts run around the reconciles that establish a state (a new
    // configuration, the periodic and resync ticks, ONESHOT): the pre script
    // finishes before that reconcile's changes, the post script starts after
    // them, and the next such reconcile waits for the post script. Neither
    // blocks the loop: they are children whose exit is an event. Corrections
    // (other writers' changes, links and addresses coming back) never wait
    // for a script: they restore the state the last reconcile established.
    void maybe_reconcile() {
        if (addrs_dirty_) refresh_local_addresses();
        if (lookup_dirty_ && model_ && desired_ && update_paths() && set_desired(derive())) {
            config_dirty_ = true;
            paths_trigger_ = true;
        }
        if (!desired_ || deferred_) return;  // never act before a first good config
        if (cfg_.dry_run) return dry_run();
        if (!config_dirty_ && !timer_due_ && !kernel_dirty_ && !links_dirty_) return;
        const bool establishing = config_dirty_ || timer_due_;
        const char* trigger = config_dirty_  ? (cfg_.oneshot     ? "oneshot"
                                                : paths_trigger_ ? "paths"
                                                                 : "config")
                              : timer_due_   ? (mirror_.rules_valid() ? "periodic" : "resync")
                              : links_dirty_ ? "link"
                                             : "kernel";
        if (!scripted()) {
            const bool corrective = !establishing && !links_dirty_;
            const auto now = Clock::now();
            if (corrective && !fights_.allow(now)) return defer(now);
            config_dirty_ = timer_due_ = kernel_dirty_ = links_dirty_ = paths_trigger_ = false;
            const bool ok = reconcile(trigger, *desired_, corrective, now);
            if (cfg_.oneshot) finish(ok ? 0 : 1);
            return;
        }
        if (establishing && script_phase_ == ScriptPhase::Idle) {
            config_dirty_ = timer_due_ = paths_trigger_ = false;
            start_pre(trigger);
        }
        if ((kernel_dirty_ || links_dirty_) && applied_) {
            const bool corrective = !links_dirty_;
            const auto now = Clock::now();
            if (corrective && !fights_.allow(now)) return defer(now);
            const char* why = links_dirty_ ? "link" : "kernel";
            kernel_dirty_ = links_dirty_ = false;
            reconcile(why, *applied_, corrective, now);
        }
    }

    bool scripted() const { return !cfg_.pre_script.empty() || !cfg_.post_script.empty(); }

    void start_pre(const char* trigger) {
        script_phase_ = ScriptPhase::Pre;
        scripted_trigger_ = trigger;
        run_script("pre", cfg_.pre_script, [this] { after_pre(); });
    }

    void after_pre() {
        if (!desired_) return;
        const std::string trigger = scripted_trigger_;
        applied_ = *desired_;
        last_scripted_ok_ = reconcile(trigger.c_str(), *applied_, false, Clock::now());
        script_phase_ = ScriptPhase::Post;
        run_script("post", cfg_.post_script, [this] { after_post(); });
    }

    void after_post() {
        script_phase_ = ScriptPhase::Idle;
        if (cfg_.oneshot) return finish(last_scripted_ok_ ? 0 : 1);
        if (config_dirty_ || timer_due_) loop_.wake();
    }

    // Starts the script (or calls `then` at once without one); `then` runs
    // on the loop when it has ended, whatever its outcome (logged).
    void run_script(const char* phase, const std::string& path, std::function<void()> then) {
        if (path.empty()) return then();
        const std::string ph = phase;
        script_ = ChildProcess::start(
            loop_, script_spec(path, ph, kScriptTimeout), [this, ph, path, then = std::move(then)](ScriptResult r) {
                log_script_result(path, ph, kScriptTimeout, r);
                metrics_.inc("script_runs_total", {{"phase", ph}, {"result", r.ok() ? "ok" : "failed"}});
                then();
                loop_.wake();
            });
    }

    // One reconcile towards `target`; returns whether the kernel matches it.
    bool reconcile(const char* trigger, const Desired& target, bool corrective, Clock::time_point now) {
        const auto t0 = Clock::now();
        const auto out = reconciler_->reconcile(target, corrective ? &fights_ : nullptr, now);
        // Thousands of rules planned, applied or dumped leave freed heap
        // behind: hand it back so the idle footprint stays small.
        if (out.changes >= kTrimAfter || out.dumped_rules >= kTrimAfter) ::malloc_trim(0);
        log::write(out.changes ? log::Level::Info : log::Level::Debug, "reconciled",
                   {{"trigger", trigger}, {"changes", out.changes}, {"ok", out.ok}, {"elapsed_us", micros(t0)}});
        count(trigger, out, std::chrono::duration<double>(Clock::now() - t0).count());

        note(out.seen);
        if (out.fight) fights_.charge(out.changes);
        // Refused only for want of a link or an address: the link/address
        // event that allows it triggers the next attempt, not a backoff.
        if (!out.ok && !cfg_.oneshot && !out.waiting_for_network) schedule_retry();
        if (out.ok || out.waiting_for_network) retry_backoff_ = kRetryInitial;
        // Foreign, link and address changes drained while applying must not
        // wait for the next unrelated event.
        if (config_dirty_ || kernel_dirty_ || timer_due_ || links_dirty_ || addrs_dirty_ || lookup_dirty_) loop_.wake();
        return out.ok;
    }

    // A failed reconcile (kernel refused a change, dump failed) is retried
    // with capped exponential backoff, besides every other trigger.
    void schedule_retry() {
        if (retry_pending_) return;
        retry_pending_ = true;
        log::warn("reconcile failed; retrying", {{"in_ms", static_cast<long long>(retry_backoff_.count())}});
        loop_.after(retry_backoff_, [this] {
            retry_pending_ = false;
            timer_due_ = true;
            loop_.wake();
        });
        retry_backoff_ = std::min(retry_backoff_ * 2, kRetryMax);
    }

    void count(const char* trigger, const Reconciler::Outcome& out, double seconds) {
        metrics_.inc("reconciles_total", {{"trigger", trigger}, {"result", out.ok ? "ok" : "failed"}});
        metrics_.set("last_reconcile_duration_seconds", seconds);
        if (out.ok) {
            metrics_.set("last_successful_reconcile_timestamp_seconds", unix_now());
            ready_ = true;
        } else {
            metrics_.inc("reconcile_failures_total");
        }
        for (std::size_t k = 0; k < ChangeCounts::kKinds; ++k)
            for (std::size_t r = 0; r < ChangeCounts::kReasons; ++r) {
                const std::size_t n = out.counts.n[k][r];
                if (!n) continue;
                const auto kind = static_cast<OpKind>(k);
                const auto reason = static_cast<Reason>(r);
                const bool rule = kind == OpKind::AddRule || kind == OpKind::AppendRule || kind == OpKind::DelRule;
                metrics_.inc("changes_total",
                             {{"kind", rule ? "rule" : "route"},
                              {"op", std::string(op_kind_name(kind))},
                              {"reason", std::string(reason_name(reason))}},
                             static_cast<double>(n));
                if (reason == Reason::Imposter)
                    metrics_.inc("imposters_removed_total", {{"kind", rule ? "rule" : "route"}},
                                 static_cast<double>(n));
            }
    }

    void defer(Clock::time_point now) {
        deferred_ = true;
        metrics_.inc("fights_rate_limited_total");
        if (fights_.should_warn(now))
            log::warn("another writer keeps changing the owned tables; rate-limiting corrections",
                      {{"tables", mirror_.tables().str()},
                       {"interval_ms",
                        static_cast<long long>(
                            std::chrono::duration_cast<std::chrono::milliseconds>(fights_.refill()).count())}});
        loop_.after(std::chrono::duration_cast<std::chrono::milliseconds>(fights_.refill()), [this] {
            deferred_ = false;
            loop_.wake();
        });
    }

    Config cfg_;
    EventLoop loop_;
    std::unique_ptr<nl::Rtnl> rtnl_;
    std::unique_ptr<Kernel> kernel_;
    KernelMirror mirror_;
    std::unique_ptr<Reconciler> reconciler_;
    std::optional<NexthopManager> nh_;  // NEXTHOP_OBJECTS=auto
    BgpSessions sessions_;              // this node's BGP session states (frr-k8s), as the source delivered them
    bool liveness_tick_pending_ = false;
    FightLimiter fights_;
    Fd sigfd_;
    std::optional<Desired> desired_;
    TablePlacement recovered_;      // pool CIDR -> peer-set table found in the kernel at start
    std::optional<Model> model_;    // the last configuration, re-evaluated when local addresses change
    std::set<IpAddr> local_addrs_;  // the node's addresses (all links)
    PeerPaths paths_;               // how each peer of model_ is reached
    std::map<std::uint32_t, std::vector<Route>> lookup_routes_;  // main and VRF tables, as last dumped
    std::vector<nl::Link> links_;                                // for VRF peers' tables
    bool links_loaded_ = false;
    bool lookup_dirty_ = true, paths_trigger_ = false;
    unsigned ticks_ = 0;
    std::chrono::milliseconds retry_backoff_ = kRetryInitial;
    bool retry_pending_ = false;
    bool config_dirty_ = false, kernel_dirty_ = false, timer_due_ = false, deferred_ = false;
    bool links_dirty_ = false, addrs_dirty_ = false, addrs_failed_ = false;
    bool log_watched_ = false;
    bool stopped_ = false;
    bool ready_ = false;  // a first configuration loaded and reconciled
    metrics::Registry metrics_;
    std::unique_ptr<Source> source_;
    std::unique_ptr<http::Server> http_;
    // Reconcile scripts (declared after the loop: destroyed, and killed, first).
    enum class ScriptPhase { Idle, Pre, Post };
    ScriptPhase script_phase_ = ScriptPhase::Idle;
    std::unique_ptr<ChildProcess> script_;
    std::string scripted_trigger_;
    std::optional<Desired> applied_;  // what the last scripted reconcile established (corrections restore it)
    bool last_scripted_ok_ = false;
    int exit_code_ = 0;
};

}  // namespace

int run_agent(const Config& config) { return Agent(config).run(); }

}  // namespace nra
