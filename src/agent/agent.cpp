#include "nra/agent/agent.hpp"

#include <malloc.h>
#include <signal.h>
#include <sys/signalfd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <list>
#include <memory>
#include <set>
#include <optional>
#include <string>
#include <system_error>
#include <unordered_map>

#include "nra/base/loop.hpp"
#include "nra/base/child.hpp"
#include "nra/netlink/rtnl.hpp"
#include "nra/sources/static_file.hpp"

namespace nra {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kScriptTimeout = std::chrono::seconds(10);
// Plan/apply/verify rounds per reconcile. The kernel deletes the FIRST rule
// compatible with a delete request, treating unset selectors as wildcards
// and ignoring FIB_RULE_INVERT (fib_rules.c rule_find); the plan simulates
// that over the mirror (kept in the kernel's order) and moves our rules
// behind what it deletes, so one round normally converges. More rounds only
// follow other writers' changes; the bound guards against a kernel that
// keeps refusing silently.
constexpr int kMaxPasses = 256;

// A fight is another writer undoing our corrections: the same object
// corrected kFightRepeats times within kFightWindow. Only fights are rate
// limited (a burst of kFightBurst corrective reconciles, then one per
// kFightRefill), so distinct imposters are all removed at once while a
// fighting writer costs a few reconciles per second, never a spinning CPU.
constexpr int kFightRepeats = 3;
constexpr auto kFightWindow = std::chrono::seconds(10);
constexpr std::size_t kFightMemory = 4096;  // objects remembered
constexpr double kFightBurst = 100;
constexpr auto kFightRefill = std::chrono::milliseconds(20);
// A fighting round costs one token plus one per kFightOpsPerToken ops: an
// imposter that forces thousands of our rules to be moved behind it (a
// "from all" rule re-added at our priority) is corrected about once a second.
constexpr std::size_t kFightOpsPerToken = 100;
// Heap is trimmed after a reconcile that changed or read this many objects.
constexpr std::size_t kTrimAfter = 1000;

// Every kFullResyncTicks-th periodic tick re-reads the rules in full.
constexpr unsigned kFullResyncTicks = 10;
constexpr auto kRetryInitial = std::chrono::milliseconds(1000);
constexpr auto kRetryMax = std::chrono::milliseconds(30000);

std::string_view op_message(const Op& op) {
    const bool imposter = op.why == "imposter", stale = op.why == "stale", dup = op.why == "duplicate";
    switch (op.kind) {
        case OpKind::ReplaceRoute: return op.why == "missing" ? "adding route" : "replacing route";
        case OpKind::AddRule: return "adding rule";
        case OpKind::AppendRule: return op.why == "moved" ? "moving rule" : "adding rule";
        case OpKind::DelRule:
            if (op.why == "moved") return "removing the old copy of a moved rule";
            return imposter ? "removing imposter rule" : stale ? "removing stale rule" : dup ? "removing duplicate rule" : "removing rule";
        case OpKind::DelRoute:
            return imposter ? "removing imposter route" : stale ? "removing stale route" : "removing route";
    }
    return "changing";
}

std::string object_text(const Op& op) { return std::holds_alternative<Rule>(op.object) ? op.rule().str() : op.route().str(); }

void log_diagnostics(const std::vector<Diagnostic>& diags) {
    for (const auto& d : diags) log::warn("configuration entry skipped", {{"where", d.where}, {"error", d.what}});
}

void log_warnings(const std::vector<Diagnostic>& warnings) {
    for (const auto& w : warnings) log::warn("DANGER: configuration applied as written", {{"where", w.where}, {"warning", w.what}});
}

// The kernel refuses a route whose gateway is not reachable yet (link down,
// address not there): retried on the link/address event that allows it.
bool waits_for_network(int err) { return err == ENETUNREACH || err == ENETDOWN || err == EHOSTUNREACH; }

// The rules referencing the managed table, in the kernel's list order (both
// families merged by priority, each family in its own order: the kernel keeps
// each list sorted by priority, a new rule after every rule of priority <=
// its own), indexed by value for the event path.
class RuleMirror {
public:
    using List = std::list<Rule>;
    List::const_iterator begin() const { return list_.begin(); }
    List::const_iterator end() const { return list_.end(); }
    std::size_t size() const { return list_.size(); }

    // A dump: IPv4 then IPv6, each in kernel order.
    void assign(std::vector<Rule>&& rules) {
        index_.clear();
        list_.clear();
        std::stable_sort(rules.begin(), rules.end(), [](const Rule& a, const Rule& b) { return a.priority < b.priority; });
        for (Rule& r : rules) index_.insert(list_.insert(list_.end(), std::move(r)));
    }

    // Where the kernel inserts it. Returns false when an equal rule was
    // already there (still inserted: the kernel holds both).
    bool insert(const Rule& r) {
        const bool fresh = index_.find(r) == index_.end();
        auto pos = list_.end();
        while (pos != list_.begin() && std::prev(pos)->priority > r.priority) --pos;
        index_.insert(list_.insert(pos, r));  // equal rules: after the others, as in the list
        return fresh;
    }

    // The kernel always deletes the first of equal rules (a request matching
    // one matches all of them). Foreign rules that differ only in attributes
    // the codec does not model are told apart by the kernel's message.
    void erase(const Rule& r) {
        auto [lo, hi] = index_.equal_range(r);
        if (lo == hi) return;
        auto victim = lo;
        if (!r.unknown_attrs.empty() && r.raw.bytes)
            for (auto it = lo; it != hi; ++it)
                if (same_payload(**it, r)) {
                    victim = it;
                    break;
                }
        list_.erase(*victim);
        index_.erase(victim);
    }

private:
    // Payload after the 16-byte netlink header (type, flags, seq, pid differ between a dump and an event).
    static bool same_payload(const Rule& a, const Rule& b) {
        if (!a.raw.bytes || !b.raw.bytes) return false;
        const auto& x = *a.raw.bytes;
        const auto& y = *b.raw.bytes;
        constexpr std::size_t kHdr = 16;
        return x.size() == y.size() && x.size() >= kHdr && std::equal(x.begin() + kHdr, x.end(), y.begin() + kHdr);
    }
    struct Less {
        using is_transparent = void;
        bool operator()(List::iterator a, List::iterator b) const { return *a < *b; }
        bool operator()(List::iterator a, const Rule& b) const { return *a < b; }
        bool operator()(const Rule& a, List::iterator b) const { return a < *b; }
    };
    List list_;
    std::multiset<List::iterator, Less> index_;
};

class Agent {
public:
    explicit Agent(const Config& c) : cfg_(c) {}

    int run() {
        try {
            nl_ = std::make_unique<nl::Rtnl>(nl::Rtnl::Follow::LinksAndAddresses);
        } catch (const std::exception& e) {
            log::error("cannot open rtnetlink", {{"error", e.what()}});
            return 1;
        }
        if (cfg_.clean_and_exit) return clean();
        refresh_local_addresses();
        if (cfg_.oneshot && !cfg_.static_file.empty()) return oneshot_file();
        return run_loop();
    }

private:
    // ---- modes ---------------------------------------------------------
    int clean() {
        const auto t0 = Clock::now();
        for (int pass = 0; pass < kMaxPasses; ++pass) {
            if (!refresh()) return 1;
            auto ops = plan_clean(observed());
            if (ops.empty()) {
                log::info("table cleaned", {{"table", cfg_.settings.table}, {"elapsed_us", micros(t0)}});
                return 0;
            }
            if (!apply(ops)) return 1;
        }
        log::error("table still not clean after several passes", {{"table", cfg_.settings.table}});
        return 1;
    }

    int oneshot_file() {
        FileLoad f = load_static_file(cfg_.static_file);
        if (!f.model) {
            log::error("cannot load the configuration; nothing changed", {{"path", cfg_.static_file}, {"error", f.error}});
            return 1;
        }
        log_diagnostics(f.diagnostics);
        set_model(std::move(*f.model));
        return reconcile("oneshot") ? 0 : 1;
    }

    int run_loop() {
        std::unique_ptr<Source> source;
        try {
            KubeOptions kube = cfg_.kube;
            kube.list_only = cfg_.oneshot;  // ONESHOT lists once, reconciles, exits
            source = cfg_.static_file.empty() ? make_kube_source(kube)
                                              : make_static_file_source(cfg_.static_file, cfg_.static_file_wait);
        } catch (const std::exception& e) {
            log::error("cannot set up the configuration source", {{"error", e.what()}});
            return 1;
        }
        if (!setup_signals()) return 1;
        loop_.add(nl_->event_fd(), EPOLLIN, [this](std::uint32_t) { on_netlink(); });
        loop_.after_dispatch([this] { maybe_reconcile(); });
        loop_.after_dispatch([this] { watch_log_output(); });
        if (!cfg_.oneshot && cfg_.max_reconcile_wait.count() > 0) schedule_periodic();
        if (cfg_.oneshot) {
            loop_.after(cfg_.sync_timeout, [this, &source] {
                log::error("ONESHOT: no configuration from the source in time; nothing changed",
                           {{"source", source->describe()}, {"timeout_ms", static_cast<long long>(cfg_.sync_timeout.count())}});
                exit_code_ = 1;
                loop_.stop();
            });
        }
        log::info("starting", {{"source", source->describe()}, {"table", cfg_.settings.table},
                               {"rule_priority", cfg_.settings.rule_priority}, {"oneshot", cfg_.oneshot}});
        source->start(loop_, Source::Callbacks{[this](Model m) { on_model(std::move(m)); }});
        loop_.wake();  // a source may deliver its first config synchronously in start()
        loop_.run();
        return exit_code_;
    }

    // ---- inputs --------------------------------------------------------
    void on_model(Model m) {
        if (set_model(std::move(m))) config_dirty_ = true;
    }

    // Returns true when the desired state changed.
    bool set_model(Model m) {
        Desired d = desired_state(m, cfg_.settings, local_addrs_);
        log_diagnostics(d.diagnostics);
        log_warnings(d.warnings);
        model_ = std::move(m);
        return set_desired(std::move(d));
    }

    bool set_desired(Desired d) {
        if (desired_ && desired_->rules == d.rules && desired_->routes == d.routes) {
            desired_->local_peers = std::move(d.local_peers);
            return false;
        }
        log::info("desired state", {{"rules", d.rules.size()}, {"routes", d.routes.size()}, {"cidrs", d.cidrs.size()},
                                    {"peers", model_ ? model_->peers.size() : 0}});
        desired_ = std::move(d);
        return true;
    }

    // The node's addresses decide which peers are local (never a gateway).
    // Re-read in full after any address event: a node has few addresses,
    // and the same address may sit on several links.
    void refresh_local_addresses() {
        auto a = nl_->dump_addresses();
        if (!a.ok) {
            log::error("cannot read the node's addresses; will retry on the next address change or tick", {{"error", a.error}});
            addrs_dirty_ = false;  // not at once: a failing dump must not spin the loop
            addrs_failed_ = true;
            return;
        }
        addrs_dirty_ = addrs_failed_ = false;
        std::set<IpAddr> now(a.addresses.begin(), a.addresses.end());
        if (now == local_addrs_) return;
        local_addrs_ = std::move(now);
        if (!model_ || !desired_) return;
        Desired d = desired_state(*model_, cfg_.settings, local_addrs_);
        for (const IpAddr& p : d.local_peers)
            if (!desired_->local_peers.count(p))
                log::warn("peer skipped: it is now a local address", {{"peer", p.str()}, {"reason", local_peer_reason(p, local_addrs_)}});
        for (const IpAddr& p : desired_->local_peers)
            if (!d.local_peers.count(p)) log::info("peer is no longer a local address; used again", {{"peer", p.str()}});
        if (set_desired(std::move(d))) config_dirty_ = true;
    }

    void on_netlink() {
        const std::uint32_t table = cfg_.settings.table;
        const std::uint32_t self = nl_->request_portid();
        auto res = nl_->drain_events([&](const nl::Event& e) {
            if (e.is_interface()) {
                // A link going down or an address going away removes routes
                // without any route notification; coming back makes a refused
                // route possible again: re-read the table's routes and reconcile.
                routes_valid_ = false;
                links_dirty_ = true;
                if (e.type == nl::Event::Type::NewAddr || e.type == nl::Event::Type::DelAddr) addrs_dirty_ = true;
                if (log::enabled(log::Level::Debug)) {
                    static constexpr const char* names[] = {"new link", "link removed", "new address", "address removed"};
                    const auto k = static_cast<int>(e.type) - static_cast<int>(nl::Event::Type::NewLink);
                    log::debug("link or address change", {{"event", names[k]}, {"ifindex", e.iface.ifindex},
                                                          {"flags", e.iface.flags}, {"address", k >= 2 ? e.iface.address.str() : ""}});
                }
                return;
            }
            const bool is_rule = std::holds_alternative<Rule>(e.object);
            const std::uint32_t t = is_rule ? std::get<Rule>(e.object).table : std::get<Route>(e.object).table;
            if (t != table) return;  // outside the managed table: never our business
            const bool foreign = e.portid != self;
            if (is_rule) {
                const Rule& r = std::get<Rule>(e.object);
                if (e.type == nl::Event::Type::NewRule) {
                    // A foreign add of a rule we already hold may be an exact
                    // duplicate (added without NLM_F_EXCL): only a dump can tell.
                    if (!cache_insert(r) && foreign) rules_valid_ = false;
                } else {
                    cache_erase(r);
                }
            } else {
                // Routes in the table are few; re-dumping them is cheaper than
                // modelling IPv4 aliases and IPv6 sibling notifications.
                routes_valid_ = false;
            }
            if (!foreign) return;  // our own echo: already accounted for
            if (log::enabled(log::Level::Debug)) {
                log::debug("change in the managed table", {{"object", is_rule ? std::get<Rule>(e.object).str() : std::get<Route>(e.object).str()},
                                                           {"event", e.type == nl::Event::Type::NewRule || e.type == nl::Event::Type::NewRoute ? "new" : "delete"},
                                                           {"portid", e.portid}});
            }
            kernel_dirty_ = true;
        });
        if (res.overrun) {
            log::warn("netlink event overrun; resynchronising from a full dump");
            rules_valid_ = routes_valid_ = false;
            kernel_dirty_ = true;
            addrs_dirty_ = links_dirty_ = true;
        }
        if (res.error) log::error("netlink event socket error", {{"error", res.what}});
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
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGHUP);
        sigprocmask(SIG_BLOCK, &set, nullptr);
        sigfd_.reset(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
        if (!sigfd_) {
            log::error("signalfd failed", {{"error", std::strerror(errno)}});
            return false;
        }
        loop_.add(sigfd_.get(), EPOLLIN, [this](std::uint32_t) {
            signalfd_siginfo si;
            while (::read(sigfd_.get(), &si, sizeof si) == sizeof si) {
                if (si.ssi_signo == SIGHUP) {
                    log::info("SIGHUP: full resync");
                    timer_due_ = true;
                    rules_valid_ = routes_valid_ = false;
                    continue;
                }
                log::info("signal received; exiting and leaving routing in place", {{"signal", strsignal(static_cast<int>(si.ssi_signo))}});
                exit_code_ = 0;
                loop_.stop();
            }
        });
        return true;
    }

    void schedule_periodic() {
        loop_.after(cfg_.max_reconcile_wait, [this] {
            timer_due_ = true;
            // Routes can vanish without a notification (a link going down):
            // re-read them every tick. Rules are always announced, so the
            // event-maintained cache is exact unless events were lost
            // (ENOBUFS resyncs at once); it is re-read in full every
            // kFullResyncTicks ticks anyway, and on SIGHUP.
            routes_valid_ = false;
            if (addrs_failed_) addrs_dirty_ = true;
            if (++ticks_ % kFullResyncTicks == 0) {
                rules_valid_ = false;
                addrs_dirty_ = true;
            }
            schedule_periodic();
        });
    }

    // ---- reconcile -----------------------------------------------------
    void maybe_reconcile() {
        if (addrs_dirty_) refresh_local_addresses();
        if (!desired_ || deferred_) return;  // never act before a first good config
        if (!config_dirty_ && !timer_due_ && !kernel_dirty_ && !links_dirty_) return;
        const bool foreign_only = kernel_dirty_ && !config_dirty_ && !timer_due_ && !links_dirty_;
        if (foreign_only) {
            refill();
            if (tokens_ < 1) {
                defer();
                return;
            }
        }
        const char* trigger = config_dirty_ ? "config" : timer_due_ ? (rules_valid_ ? "periodic" : "resync") : links_dirty_ ? "link" : "kernel";
        config_dirty_ = timer_due_ = kernel_dirty_ = links_dirty_ = false;
        corrective_ = foreign_only;
        fight_seen_ = false;
        waiting_for_network_ = false;
        const std::size_t changes_before = changes_;
        const bool ok = reconcile(trigger);
        corrective_ = false;
        if (fight_seen_) tokens_ -= 1 + static_cast<double>((changes_ - changes_before) / kFightOpsPerToken);
        // Refused only for want of a link or an address: the link/address
        // event that allows it triggers the next attempt, not a backoff.
        if (!ok && !cfg_.oneshot && !waiting_for_network_) schedule_retry();
        if (ok || waiting_for_network_) retry_backoff_ = kRetryInitial;
        // Foreign, link and address changes drained while applying (apply()
        // reads the echoes) must not wait for the next unrelated event.
        if (config_dirty_ || kernel_dirty_ || timer_due_ || links_dirty_ || addrs_dirty_) loop_.wake();
        if (cfg_.oneshot) {
            exit_code_ = ok ? 0 : 1;
            loop_.stop();
        }
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

    void refill() {
        const auto now = Clock::now();
        tokens_ = std::min(kFightBurst, tokens_ + static_cast<double>((now - refilled_at_).count()) / static_cast<double>(std::chrono::duration_cast<Clock::duration>(kFightRefill).count()));
        refilled_at_ = now;
    }

    void defer() {
        deferred_ = true;
        const auto now = Clock::now();
        if (now - last_fight_log_ > std::chrono::seconds(10)) {
            log::warn("another writer keeps changing the managed table; rate-limiting corrections",
                      {{"table", cfg_.settings.table}, {"interval_ms", static_cast<long long>(kFightRefill.count())}});
            last_fight_log_ = now;
        }
        loop_.after(kFightRefill, [this] {
            deferred_ = false;
            loop_.wake();
        });
    }

    bool reconcile(const char* trigger) {
        const auto t0 = Clock::now();
        run_and_log_script(cfg_.pre_script, "pre", kScriptTimeout);
        bool ok = true;
        std::size_t changed = 0;
        for (int pass = 0;; ++pass) {
            if (!refresh()) {
                ok = false;
                break;
            }
            std::vector<const Rule*> rules;  // the mirror as it is (kernel order), no copies
            rules.reserve(rules_.size());
            for (const Rule& r : rules_) rules.push_back(&r);
            std::vector<const Rule*> stuck;
            auto ops = plan(*desired_, rules, cached_routes_, &stuck);
            for (const Rule* r : stuck)
                log::warn("rule left in place: every way to delete it would first delete one of our rules",
                          {{"object", r->str()}});
            if (!stuck.empty()) ok = false;
            if (ops.empty()) break;
            if (pass == kMaxPasses) {
                log::warn("kernel state did not converge; will retry on the next trigger", {{"pending", ops.size()}});
                ok = false;
                break;
            }
            changed += ops.size();
            if (!apply(ops)) {
                ok = false;
                break;
            }
        }
        changes_ += changed;
        // Thousands of rules planned, applied or dumped leave freed heap
        // behind: hand it back so the idle footprint stays small.
        if (changed >= kTrimAfter || dumped_rules_ >= kTrimAfter) ::malloc_trim(0);
        dumped_rules_ = 0;
        run_and_log_script(cfg_.post_script, "post", kScriptTimeout);
        log::write(changed ? log::Level::Info : log::Level::Debug, "reconciled",
                   {{"trigger", trigger}, {"changes", changed}, {"ok", ok}, {"elapsed_us", micros(t0)}});
        return ok;
    }

    bool apply(const std::vector<Op>& ops) {
        if (log::enabled(log::Level::Info)) {  // thousands of ops: build the text only when it is written
            std::size_t moved = 0;
            for (const Op& op : ops) {
                if (op.why == "moved") {  // one line for all: a wildcard imposter can move thousands
                    moved += op.kind == OpKind::AppendRule;
                    if (log::enabled(log::Level::Debug)) log::debug(op_message(op), {{"object", object_text(op)}});
                    continue;
                }
                log::info(op_message(op), {{"object", object_text(op)}, {"reason", op.why}});
            }
            if (moved)
                log::info("moving our rules behind the rules being removed (a delete takes the first rule it matches)",
                          {{"rules", moved}});
        }
        if (corrective_) note_corrections(ops);
        const auto results = nl_->apply(ops);
        bool ok = results.size() == ops.size();
        // The kernel queued the notifications of our changes before acking
        // them: they say exactly what was created and deleted (a delete can
        // hit another rule than the one asked for). They update the cache.
        on_netlink();
        bool network = true;
        for (std::size_t i = 0; i < ops.size() && i < results.size(); ++i) {
            if (!results[i].error) continue;
            ok = false;
            network = network && waits_for_network(results[i].error);
            if (waits_for_network(results[i].error)) {
                log::warn("kernel refused a change until a link or address comes back; retried when it does",
                          {{"op", std::string(op_kind_name(ops[i].kind))}, {"object", object_text(ops[i])},
                           {"error", std::strerror(results[i].error)}, {"ext_ack", results[i].ext_ack}});
                continue;
            }
            log::error("kernel refused a change", {{"op", std::string(op_kind_name(ops[i].kind))}, {"object", object_text(ops[i])},
                                                    {"error", std::strerror(results[i].error)}, {"ext_ack", results[i].ext_ack}});
        }
        if (!ok) rules_valid_ = routes_valid_ = false;  // re-read the truth
        if (!ok && results.size() == ops.size() && network) waiting_for_network_ = true;
        return ok;
    }

    // Remembers what corrective reconciles changed; an object corrected again
    // and again within the window means another writer is undoing our work.
    void note_corrections(const std::vector<Op>& ops) {
        const auto now = Clock::now();
        if (corrected_.size() + ops.size() > kFightMemory) {
            std::erase_if(corrected_, [&](const auto& kv) { return now - kv.second.last > kFightWindow; });
            if (corrected_.size() + ops.size() > kFightMemory) corrected_.clear();
        }
        for (const Op& op : ops) {
            if (op.why == "moved") continue;  // a consequence, not the object fought over
            auto& c = corrected_[std::string(op_kind_name(op.kind)) + " " + object_text(op)];
            c.count = now - c.last > kFightWindow ? 1 : c.count + 1;
            c.last = now;
            if (c.count >= kFightRepeats) fight_seen_ = true;
        }
    }

    // ---- observed cache --------------------------------------------------
    // Rules referencing the table are kept up to date from events (thousands
    // of rules must not cost a dump per event); routes are re-dumped when
    // touched. Any doubt (overrun, failure, periodic resync) invalidates.
    bool refresh() {
        if (rules_valid_ && routes_valid_) return true;
        auto d = nl_->dump(cfg_.settings.table, !rules_valid_, !routes_valid_);
        if (!d.ok) {
            log::error("cannot read the kernel's rules and routes", {{"error", d.error}});
            return false;
        }
        if (!rules_valid_) {
            dumped_rules_ += d.observed.rules.size();
            rules_.assign(std::move(d.observed.rules));
        }
        if (!routes_valid_) cached_routes_ = std::move(d.observed.routes);
        rules_valid_ = routes_valid_ = true;
        return true;
    }

    Observed observed() const {
        return Observed{std::vector<Rule>(rules_.begin(), rules_.end()), cached_routes_};
    }

    // Applies an announced new rule where the kernel put it. Returns false
    // when an equal rule was already there.
    bool cache_insert(const Rule& r) {
        if (!rules_valid_) return true;
        return rules_.insert(r);
    }

    void cache_erase(const Rule& r) {
        if (!rules_valid_) return;
        rules_.erase(r);
    }

    static long long micros(Clock::time_point t0) {
        return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
    }

    Config cfg_;
    EventLoop loop_;
    std::unique_ptr<nl::Rtnl> nl_;
    Fd sigfd_;
    std::optional<Desired> desired_;
    std::optional<Model> model_;         // the last configuration, re-evaluated when local addresses change
    std::set<IpAddr> local_addrs_;       // the node's addresses (all links)
    RuleMirror rules_;
    std::vector<Route> cached_routes_;
    bool rules_valid_ = false, routes_valid_ = false;
    unsigned ticks_ = 0;
    std::size_t dumped_rules_ = 0;
    std::chrono::milliseconds retry_backoff_ = kRetryInitial;
    bool retry_pending_ = false;
    bool config_dirty_ = false, kernel_dirty_ = false, timer_due_ = false, deferred_ = false;
    double tokens_ = kFightBurst;
    struct Correction {
        int count = 0;
        Clock::time_point last{};
    };
    std::unordered_map<std::string, Correction> corrected_;
    bool corrective_ = false, fight_seen_ = false;
    Clock::time_point refilled_at_ = Clock::now();
    Clock::time_point last_fight_log_{};
    std::size_t changes_ = 0;
    int exit_code_ = 0;
    bool log_watched_ = false;
    bool links_dirty_ = false, addrs_dirty_ = false, addrs_failed_ = false, waiting_for_network_ = false;
};

}  // namespace

int run_agent(const Config& config) { return Agent(config).run(); }

}  // namespace nra
