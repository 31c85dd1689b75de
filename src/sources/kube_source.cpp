// The Kubernetes configuration source: ConfigMap mode (legacy MetalLB config)
// or CRD mode (metallb.io), plus this node's labels when NODE_NAME is set.
// Informers keep caches; the changes of one dispatch round re-derive the
// Model once (pointing into the caches, copying no object) and only a Model
// that differs from the last delivered one is passed on. Nothing is delivered before every stream has listed once.
// Under a sustained burst, derivations are spaced by DeriveThrottle (a
// multiple of the last one's cost, at most 50 ms); after a quiet spell a change
// is derived at once.
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <map>
#include <set>
#include <stdexcept>

#include "nra/base/log.hpp"
#include "nra/base/loop.hpp"
#include "nra/core/bgp_session.hpp"
#include "nra/core/crd.hpp"
#include "nra/core/selector.hpp"
#include "nra/kube/client.hpp"
#include "nra/kube/config.hpp"
#include "nra/kube/informer.hpp"
#include "nra/sources/kube_source.hpp"
#include "nra/sources/legacy_text.hpp"
#include "nra/sources/throttle.hpp"
#include "nra/kube/redact.hpp"

namespace nra {

namespace {

using namespace nra::kube;

bool same_selectors(const std::vector<LabelSelector>& a, const std::vector<LabelSelector>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i].match_labels != b[i].match_labels || a[i].match_expressions.size() != b[i].match_expressions.size())
            return false;
        for (std::size_t j = 0; j < a[i].match_expressions.size(); ++j) {
            const auto& x = a[i].match_expressions[j];
            const auto& y = b[i].match_expressions[j];
            if (x.key != y.key || x.op != y.op || x.values != y.values) return false;
        }
    }
    return true;
}

bool same_model(const Model& a, const Model& b) {
    if (a.peers.size() != b.peers.size() || a.addresses.size() != b.addresses.size()) return false;
    for (std::size_t i = 0; i < a.peers.size(); ++i) {
        const auto& x = a.peers[i];
        const auto& y = b.peers[i];
        if (x.address != y.address || x.weight != y.weight || x.name != y.name ||
            !same_selectors(x.node_selectors, y.node_selectors))
            return false;
    }
    for (std::size_t i = 0; i < a.addresses.size(); ++i)
        if (a.addresses[i].text != b.addresses[i].text || a.addresses[i].where != b.addresses[i].where ||
            a.addresses[i].peers != b.addresses[i].peers)
            return false;
    return true;
}

std::string diagnostics_text(const std::vector<Diagnostic>& d) {
    std::string s;
    for (const auto& x : d) s += x.where + ": " + x.what + "\n";
    return s;
}

std::string response_text(const Response& r) {
    if (r.status == 0) return r.error;
    return "HTTP " + std::to_string(r.status) + (r.head.reason.empty() ? "" : " " + r.head.reason);
}

// Which resources an API group serves, in which versions: GET /apis/GROUP,
// then GET /apis/GROUP/VERSION for each version, the preferred one first.
class GroupDiscovery {
public:
    using Served = std::vector<std::pair<std::string, std::string>>;  // (resource, version)
    // status: 200 with `served`, else the failing answer's HTTP status (0:
    // none) with `error` ("GET /apis/G: HTTP 404 Not Found").
    using Done = std::function<void(int status, const std::string& error, Served served)>;

    GroupDiscovery(ApiClient& client, std::string group) : client_(client), group_(std::move(group)) {}
    ~GroupDiscovery() { ApiClient::cancel(call_); }
    GroupDiscovery(const GroupDiscovery&) = delete;
    GroupDiscovery& operator=(const GroupDiscovery&) = delete;

    bool running() const { return static_cast<bool>(call_); }

    void run(Done done) {
        done_ = std::move(done);
        const std::string target = "/apis/" + group_;
        call_ = client_.get(target, false, std::chrono::seconds(30),
                            {{}, [this, target](Response r) {
                                 call_.reset();
                                 if (r.status != 200)
                                     return finish(r.status, "GET " + target + ": " + response_text(r));
                                 on_group(r);
                             }});
    }

    // The version of `resource` to use: `prefer` when served, else the first served.
    static std::string pick(const Served& served, const std::string& resource, const std::string& prefer) {
        std::string any;
        for (const auto& [name, version] : served) {
            if (name != resource) continue;
            if (version == prefer) return version;
            if (any.empty()) any = version;
        }
        return any;
    }

private:
    void on_group(const Response& r) {
        simdjson::dom::element doc;
        simdjson::dom::array versions;
        if (parser_.parse(r.body).get(doc) || doc["versions"].get(versions))
            return finish(200, "GET /apis/" + group_ + ": not an APIGroup", {}, true);
        versions_.clear();
        std::string_view preferred;
        if (doc["preferredVersion"]["version"].get(preferred)) preferred = {};
        for (auto v : versions) {
            std::string_view name;
            if (!v["version"].get(name)) versions_.emplace_back(name);
        }
        // Preferred version first, then the rest in server order.
        std::stable_partition(versions_.begin(), versions_.end(), [&](const std::string& v) { return v == preferred; });
        served_.clear();
        version(0);
    }

    void version(std::size_t i) {
        if (i == versions_.size()) return finish(200, "", std::move(served_));
        const std::string v = versions_[i];
        const std::string target = "/apis/" + group_ + "/" + v;
        call_ = client_.get(target, false, std::chrono::seconds(30),
                            {{}, [this, i, v, target](Response r) {
                                 call_.reset();
                                 if (r.status != 200)
                                     return finish(r.status, "GET " + target + ": " + response_text(r));
                                 simdjson::dom::element doc;
                                 simdjson::dom::array resources;
                                 if (parser_.parse(r.body).get(doc) || doc["resources"].get(resources))
                                     return finish(200,
                                                   "GET " + target +
                                                       ": not an "
                                                       "APIResourceList",
                                                   {}, true);
                                 for (auto res : resources) {
                                     std::string_view name;
                                     if (!res["name"].get(name) && name.find('/') == std::string_view::npos)
                                         served_.emplace_back(std::string(name), v);
                                 }
                                 version(i + 1);
                             }});
    }

    // `malformed`: a 200 answer that is not a discovery document (status 0 to the caller).
    void finish(int status, const std::string& error, Served served = {}, bool malformed = false) {
        parser_ = simdjson::dom::parser();  // release what a big discovery document made it keep
        Done done = std::move(done_);
        done_ = nullptr;
        if (done) done(malformed ? 0 : status, error, std::move(served));  // may destroy this object: nothing after
    }

    ApiClient& client_;
    std::string group_;
    ApiClient::CallPtr call_;
    simdjson::dom::parser parser_;
    std::vector<std::string> versions_;
    Served served_;
    Done done_;
};

class KubeSource final : public Source {
public:
    KubeSource(KubeOptions opts, ApiConfig cfg, std::string ns, std::chrono::milliseconds watch_silence)
        : opts_(std::move(opts)), cfg_(std::move(cfg)), ns_(std::move(ns)), watch_silence_(watch_silence) {}

    ~KubeSource() override {
        informers_.clear();
        sessions_.reset();
        if (loop_ && discovery_timer_) loop_->cancel(discovery_timer_);
        if (loop_ && derive_timer_) loop_->cancel(derive_timer_);
        if (loop_ && sessions_timer_) loop_->cancel(sessions_timer_);
        metallb_discovery_.reset();
        frrk8s_discovery_.reset();
    }

    void start(EventLoop& loop, Callbacks cb) override {
        ::signal(SIGPIPE, SIG_IGN);  // a peer reset must be an error code, never a signal
        loop_ = &loop;
        cb_ = std::move(cb);
        // Changes an informer reports are only counted; the model is derived
        // once after the dispatch round that brought them (a burst of watch
        // events, a list's pages) has been applied to the caches - at once,
        // or, while changes keep coming, when the throttle's hold is over.
        loop.after_dispatch([this, alive = std::weak_ptr<bool>(alive_)] {
            if (alive.expired() || changes_ == 0 || derive_timer_) return;
            const auto now = EventLoop::Clock::now();
            const auto when = throttle_.earliest(now);
            if (when <= now) return derive_pending(std::chrono::microseconds(0));
            derive_timer_ = loop_->at(when, [this, now] {
                derive_timer_ = 0;
                derive_pending(std::chrono::duration_cast<std::chrono::microseconds>(EventLoop::Clock::now() - now));
            });
        });
        client_ = std::make_unique<ApiClient>(loop, cfg_);
        metallb_discovery_ = std::make_unique<GroupDiscovery>(*client_, "metallb.io");
        klog::info("kube: source starting", {{"source", describe()}, {"server", cfg_.url()}, {"config", cfg_.source}});
        start_sessions();
        if (opts_.use_crds) {
            discover();
        } else {
            add_informer({"configmap " + ns_ + "/" + opts_.configmap_name, "/api/v1/namespaces/" + ns_ + "/configmaps",
                          "metadata.name=" + opts_.configmap_name, Kind::ConfigMap},
                         &configmap_);
            add_node_informer();
            for (auto& i : informers_) i->start();
        }
    }

    Stats stats() const override {
        Stats t;
        std::vector<const Informer*> all;
        for (const auto& i : informers_) all.push_back(i.get());
        if (sessions_) all.push_back(sessions_.get());
        for (const Informer* i : all) {
            const auto& s = i->stats();
            t.lists += s.lists;
            t.watches += s.watches;
            t.expired += s.expired;
            t.errors += s.errors;
        }
        return t;
    }

    std::string describe() const override {
        std::string s =
            opts_.use_crds ? "metallb.io CRDs in namespace " + ns_ : "ConfigMap " + ns_ + "/" + opts_.configmap_name;
        if (!opts_.node_name.empty()) s += " (node " + opts_.node_name + ")";
        return s;
    }

private:
    std::unique_ptr<Informer> make_informer(Informer::Spec spec) {
        spec.watch = !opts_.list_only;
        auto inf = std::make_unique<Informer>(*loop_, *client_, std::move(spec), [this] { ++changes_; });
        inf->watch_silence = watch_silence_;
        return inf;
    }

    void add_informer(Informer::Spec spec, Informer** slot) {
        auto inf = make_informer(std::move(spec));
        *slot = inf.get();
        informers_.push_back(std::move(inf));
    }

    void add_node_informer() {
        if (opts_.node_name.empty()) return;
        add_informer({"node " + opts_.node_name, "/api/v1/nodes", "metadata.name=" + opts_.node_name, Kind::Node},
                     &node_);
    }

    // --- CRD discovery -------------------------------------------------------

    void discover() {
        metallb_discovery_->run([this](int status, const std::string& error, GroupDiscovery::Served served) {
            if (status != 200 || !error.empty()) return discovery_failed(error);
            served_ = std::move(served);
            discovered();
        });
    }

    std::string pick(const std::string& resource, const std::string& prefer) const {
        return GroupDiscovery::pick(served_, resource, prefer);
    }

    void discovered() {
        const std::string peers = pick("bgppeers", "v1beta2");
        const std::string pools = pick("ipaddresspools", "");
        const std::string ads = pick("bgpadvertisements", "");
        if (peers.empty() || pools.empty() || ads.empty())
            return discovery_failed("metallb.io serves no " +
                                    std::string(peers.empty()   ? "bgppeers"
                                                : pools.empty() ? "ipaddresspools"
                                                                : "bgpadvertisements") +
                                    " (are the MetalLB CRDs installed?)");
        discovery_backoff_.reset();
        if (crd_started_) return rediscovered(peers, pools, ads);
        klog::info("kube: metallb.io discovered",
                   {{"bgppeers", peers}, {"ipaddresspools", pools}, {"bgpadvertisements", ads}});
        crd_started_ = true;
        add_crd_informer("bgppeers", peers, Kind::BgpPeer, &peers_);
        add_crd_informer("ipaddresspools", pools, Kind::IpAddressPool, &pools_);
        add_crd_informer("bgpadvertisements", ads, Kind::BgpAdvertisement, &ads_);
        add_node_informer();
        for (auto& i : informers_) i->start();
    }

    Informer::Spec crd_spec(const std::string& resource, const std::string& version, Kind kind) {
        Informer::Spec spec{resource, "/apis/metallb.io/" + version + "/namespaces/" + ns_ + "/" + resource, "", kind};
        spec.on_not_found = [this, alive = std::weak_ptr<bool>(alive_)] {
            if (!alive.expired()) rediscover_soon();
        };
        return spec;
    }

    void add_crd_informer(const std::string& resource, const std::string& version, Kind kind, Informer** slot) {
        add_informer(crd_spec(resource, version, kind), slot);
        crd_versions_[resource] = version;
    }

    // A list or watch of a discovered version answered 404 (the CRDs were
    // upgraded and that version is no longer served): discovery runs again,
    // with its own backoff, reset once a version changed. The informers keep
    // retrying meanwhile, and the caches (hence the configuration) are kept.
    void rediscover_soon() {
        if (metallb_discovery_->running() || discovery_timer_) return;  // already under way
        const auto delay = rediscovery_backoff_.next();
        klog::warn("kube: a discovered metallb.io version answered 404; discovery runs again",
                   {{"retry_in_ms", static_cast<long long>(delay.count())}});
        discovery_timer_ = loop_->after(delay, [this] {
            discovery_timer_ = 0;
            discover();
        });
    }

    // Discovery after a 404: each resource whose version changed gets a new
    // informer at the new version (unsynced until it has listed, so nothing
    // is derived from a half-switched set of caches).
    void rediscovered(const std::string& peers, const std::string& pools, const std::string& ads) {
        bool changed = false;
        auto swap = [&](const std::string& resource, const std::string& version, Kind kind, Informer** slot) {
            if (crd_versions_[resource] == version) return;
            klog::info("kube: metallb.io version changed; switching",
                       {{"resource", resource}, {"from", crd_versions_[resource]}, {"to", version}});
            changed = true;
            auto inf = make_informer(crd_spec(resource, version, kind));
            for (auto& i : informers_) {
                if (i.get() == *slot) {
                    i = std::move(inf);
                    *slot = i.get();
                    break;
                }
            }
            crd_versions_[resource] = version;
            (*slot)->start();
        };
        swap("bgppeers", peers, Kind::BgpPeer, &peers_);
        swap("ipaddresspools", pools, Kind::IpAddressPool, &pools_);
        swap("bgpadvertisements", ads, Kind::BgpAdvertisement, &ads_);
        if (changed) {
            rediscovery_backoff_.reset();
        } else {
            klog::info("kube: metallb.io discovery unchanged",
                       {{"bgppeers", peers}, {"ipaddresspools", pools}, {"bgpadvertisements", ads}});
        }
    }

    void discovery_failed(const std::string& why) {
        const auto delay = discovery_backoff_.next();
        klog::warn("kube: discovery failed: " + why, {{"retry_in_ms", static_cast<long long>(delay.count())}});
        discovery_timer_ = loop_->after(delay, [this] {
            discovery_timer_ = 0;
            discover();
        });
    }

    // --- frr-k8s BGPSessionStates -------------------------------------------
    // This node's session states (label frrk8s.metallb.io/node=NODE_NAME in
    // the frr-k8s namespace), when the API serves them: delivered apart from
    // the configuration, which never waits for them. Not served (404, absent
    // from discovery): off, logged once at info; forbidden (403): off, logged
    // once at warn. Other failures of discovery are retried with backoff.

    std::string frrk8s_ns() const { return opts_.frrk8s_namespace.empty() ? ns_ : opts_.frrk8s_namespace; }

    void start_sessions() {
        if (!opts_.bgp_sessions || opts_.node_name.empty() || opts_.list_only || !cb_.sessions) return;
        frrk8s_discovery_ = std::make_unique<GroupDiscovery>(*client_, "frrk8s.metallb.io");
        loop_->after_dispatch([this, alive = std::weak_ptr<bool>(alive_)] {
            if (alive.expired() || !sessions_changed_ || !sessions_ || !sessions_->synced()) return;
            sessions_changed_ = false;
            deliver_sessions();
        });
        discover_sessions();
    }

    void discover_sessions() {
        frrk8s_discovery_->run([this](int status, const std::string& error, GroupDiscovery::Served served) {
            if (status == 404) return sessions_unavailable(404, error);
            if (status == 403 || status == 401) return sessions_unavailable(403, error);
            if (status != 200 || !error.empty()) {
                const auto delay = sessions_backoff_.next();
                klog::warn("kube: frrk8s.metallb.io discovery failed: " + error,
                           {{"retry_in_ms", static_cast<long long>(delay.count())}});
                sessions_timer_ = loop_->after(delay, [this] {
                    sessions_timer_ = 0;
                    discover_sessions();
                });
                return;
            }
            sessions_backoff_.reset();
            const std::string version = GroupDiscovery::pick(served, "bgpsessionstates", "v1beta1");
            if (version.empty()) return sessions_unavailable(404, "frrk8s.metallb.io serves no bgpsessionstates");
            const std::string ns = frrk8s_ns();
            Informer::Spec spec{"bgpsessionstates " + ns,
                                "/apis/frrk8s.metallb.io/" + version + "/namespaces/" + ns + "/bgpsessionstates", "",
                                Kind::BgpSessionState};
            spec.label_selector = "frrk8s.metallb.io/node=" + opts_.node_name;
            spec.on_refused = [this, alive = std::weak_ptr<bool>(alive_)](int code) {
                if (alive.expired()) return;
                sessions_unavailable(code, std::string(code == 403 ? "HTTP 403" : "HTTP 404") +
                                               " for bgpsessionstates in namespace " + frrk8s_ns());
            };
            sessions_ =
                std::make_unique<Informer>(*loop_, *client_, std::move(spec), [this] { sessions_changed_ = true; });
            sessions_->watch_silence = watch_silence_;
            klog::info("kube: following frr-k8s BGP session states",
                       {{"namespace", ns}, {"version", version}, {"node", opts_.node_name}});
            sessions_->start();
        });
    }

    // The feature is off for this process: peers are judged by their
    // neighbour entries (what was delivered is withdrawn).
    void sessions_unavailable(int status, const std::string& why) {
        if (sessions_off_) return;
        sessions_off_ = true;
        sessions_.reset();
        if (status == 403)
            klog::warn(
                "kube: frr-k8s BGP session states forbidden; peers are judged by their neighbour entries "
                "(grant list/watch on bgpsessionstates.frrk8s.metallb.io to use them)",
                {{"namespace", frrk8s_ns()}, {"error", why}});
        else
            klog::info("kube: frr-k8s BGP session states not served; peers are judged by their neighbour entries",
                       {{"error", why}});
        if (!sessions_delivered_.empty()) {
            sessions_delivered_.clear();
            cb_.sessions({});
            loop_->wake();
        }
    }

    void deliver_sessions() {
        BgpSessions out;
        for (const auto& [key, item] : sessions_->items()) {
            const auto* x = std::get_if<SessionStateInfo>(&item);
            if (!x || (!x->node.empty() && x->node != opts_.node_name) || x->bgp_status.empty()) continue;
            auto peer = parse_session_peer(x->peer);
            if (!peer) {
                if (sessions_skipped_.insert(key).second)
                    klog::verbose("kube: BGPSessionState without a peer address skipped",
                                  {{"object", key}, {"peer", x->peer}});
                continue;
            }
            out.push_back(BgpSession{*peer, x->vrf, x->bgp_status, key});
        }
        if (out == sessions_delivered_) return;
        std::size_t up = 0;
        for (const BgpSession& b : out) up += b.established();
        klog::verbose("kube: BGP session states changed", {{"sessions", out.size()}, {"established", up}});
        sessions_delivered_ = out;
        cb_.sessions(std::move(out));
        loop_->wake();
    }

    // --- derivation --------------------------------------------------------

    std::optional<Labels> node_labels() {
        if (!node_) return std::nullopt;
        for (const auto& [key, item] : node_->items()) {
            if (const auto* n = std::get_if<NodeInfo>(&item); n && n->name == opts_.node_name) return n->labels;
        }
        if (!node_missing_logged_) {
            klog::warn("kube: this node is not in the API; evaluating node selectors against no labels",
                       {{"node", opts_.node_name}});
            node_missing_logged_ = true;
        }
        return Labels{};
    }

    // Derives what the informers changed, timing it for the throttle (the
    // configuration callback, which computes the desired state, included).
    // `held`: how long the throttle made the changes wait.
    void derive_pending(std::chrono::microseconds held) {
        const auto t0 = EventLoop::Clock::now();
        derive(std::exchange(changes_, 0), held);
        throttle_.ran(t0, EventLoop::Clock::now());
    }

    // `changes`: informer changes coalesced into this derivation.
    void derive(std::size_t changes, std::chrono::microseconds held) {
        if (informers_.empty()) return;
        for (const auto& i : informers_)
            if (!i->synced()) return;
        klog::debug("kube: deriving the configuration",
                    {{"changes", changes}, {"held_us", static_cast<long long>(held.count())}});
        std::optional<Model> m = opts_.use_crds ? derive_crds() : derive_configmap();
        if (!m) return;
        if (delivered_ && same_model(*m, last_)) return;
        last_ = *m;
        delivered_ = true;
        klog::info("kube: configuration changed",
                   {{"source", describe()}, {"peers", last_.peers.size()}, {"addresses", last_.addresses.size()}});
        if (cb_.config) cb_.config(std::move(*m));
        loop_->wake();  // hooks registered before this one (the agent's reconcile) run without waiting for an event
    }

    std::optional<Model> derive_configmap() {
        const ConfigMapInfo* cm = nullptr;
        for (const auto& [key, item] : configmap_->items()) {
            if (const auto* c = std::get_if<ConfigMapInfo>(&item); c && c->name == opts_.configmap_name) cm = c;
        }
        Model model;
        const std::string where = "ConfigMap " + ns_ + "/" + opts_.configmap_name;
        if (!cm || !cm->has_config) {
            const int state = cm ? 1 : 0;
            parsed_text_.reset();
            if (delivered_) {
                // As MetalLB's speaker: a deleted ConfigMap (or one without
                // its config key) leaves the last configuration in force.
                if (cm_state_ != state)
                    klog::warn("kube: " + where + (cm ? " has no 'config' key" : " was deleted") +
                                   "; keeping the last good configuration. To remove the routing, apply an empty "
                                   "configuration (data.config: 'peers: []') or run the agent once with "
                                   "CLEANANDEXIT=1",
                               {});
                cm_state_ = state;
                return std::nullopt;
            }
            // At start there is no last configuration: the speaker announces
            // nothing, and the agent routes nothing.
            if (cm_state_ != state)
                klog::info("kube: " + where + (cm ? " has no 'config' key" : " does not exist") +
                           ": empty configuration (nothing was configured since the agent started)");
            cm_state_ = state;
        } else {
            cm_state_ = 2;
            if (!parsed_text_ || *parsed_text_ != cm->config) {
                parsed_text_ = cm->config;
                parsed_ok_ = false;
                // MetalLB v0.12's rules: any problem refuses the whole
                // document. An empty document or one without lists is an
                // empty configuration here (as v0.12 parses it).
                const std::string origin = where + " data.config";
                auto load = load_legacy_text(cm->config, origin, LegacyRules::Speaker);
                std::string error;
                if (!load) {
                    error = load.error;
                } else if (load.value->rejected()) {
                    error = rejection_summary(origin, load.value->problems);
                } else {
                    parsed_ok_ = true;
                    parsed_model_ = std::move(load.value->model);
                }
                if (!parsed_ok_) {
                    klog::error(
                        std::string("kube: invalid configuration in ") + where +
                            (delivered_ ? "; keeping the last good one" : "; nothing is changed until it is fixed"),
                        {{"error", error}});
                    if (load) log_config_problems(origin, load.value->problems);
                    if (cb_.failed) cb_.failed(error);
                }
            }
            if (!parsed_ok_) return std::nullopt;
            model = parsed_model_;
        }
        const auto labels = node_labels();
        std::vector<Peer> peers;
        for (auto& p : model.peers) {
            if (labels && !peer_applies_to_node(p, *labels)) continue;
            p.node_selectors.clear();  // evaluated here (or not at all without NODE_NAME)
            peers.push_back(std::move(p));
        }
        model.peers = std::move(peers);
        return model;
    }

    std::optional<Model> derive_crds() {
        CrdInputView in;  // points into the caches: nothing is copied
        in.peers.reserve(peers_->items().size());
        for (const auto& [k, item] : peers_->items()) in.peers.push_back(&std::get<CrdPeer>(item));
        in.pools.reserve(pools_->items().size());
        for (const auto& [k, item] : pools_->items()) in.pools.push_back(&std::get<CrdPool>(item));
        in.advertisements.reserve(ads_->items().size());
        for (const auto& [k, item] : ads_->items()) in.advertisements.push_back(&std::get<CrdAdvertisement>(item));
        in.node_labels = node_labels();
        auto sel = select_crd(in);
        const std::string text = diagnostics_text(sel.diagnostics) + (sel.rejected ? "rejected" : "");
        if (text != last_diagnostics_) {  // log problems once, not on every unrelated event
            last_diagnostics_ = text;
            for (const auto& d : sel.diagnostics)
                (sel.rejected ? klog::error : klog::warn)("kube: " + d.where + ": " + d.what, {});
            if (sel.rejected) {
                klog::error("kube: invalid MetalLB configuration; keeping the last good one");
                if (cb_.failed)
                    cb_.failed("invalid MetalLB configuration (" + std::to_string(sel.diagnostics.size()) +
                               " problems; the first: " +
                               (sel.diagnostics.empty() ? std::string("?")
                                                        : sel.diagnostics[0].where + ": " + sel.diagnostics[0].what) +
                               ")");
            }
        }
        if (sel.rejected) return std::nullopt;
        return std::move(sel.model);
    }

    KubeOptions opts_;
    ApiConfig cfg_;
    std::string ns_;
    std::chrono::milliseconds watch_silence_;
    EventLoop* loop_ = nullptr;
    Callbacks cb_;
    std::unique_ptr<ApiClient> client_;
    std::vector<std::unique_ptr<Informer>> informers_;
    Informer* configmap_ = nullptr;
    Informer* node_ = nullptr;
    Informer* peers_ = nullptr;
    Informer* pools_ = nullptr;
    Informer* ads_ = nullptr;

    std::unique_ptr<GroupDiscovery> metallb_discovery_;
    EventLoop::TimerId discovery_timer_ = 0;
    Backoff discovery_backoff_;
    Backoff rediscovery_backoff_;
    bool crd_started_ = false;                         // the CRD informers exist
    std::map<std::string, std::string> crd_versions_;  // resource -> version its informer uses
    GroupDiscovery::Served served_;                    // metallb.io: (resource, version)

    // frr-k8s BGPSessionStates of this node (KubeOptions::bgp_sessions).
    std::unique_ptr<GroupDiscovery> frrk8s_discovery_;
    std::unique_ptr<Informer> sessions_;
    Backoff sessions_backoff_;
    EventLoop::TimerId sessions_timer_ = 0;
    bool sessions_changed_ = false;
    bool sessions_off_ = false;
    BgpSessions sessions_delivered_;
    std::set<std::string> sessions_skipped_;  // objects without a usable peer, logged once each

    std::size_t changes_ = 0;  // informer changes not derived yet
    DeriveThrottle throttle_;
    EventLoop::TimerId derive_timer_ = 0;                         // a held derivation
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // the after-dispatch hook outlives the source
    bool delivered_ = false;
    Model last_;
    std::optional<std::string> parsed_text_;
    bool parsed_ok_ = false;
    Model parsed_model_;
    int cm_state_ = -1;
    bool node_missing_logged_ = false;
    std::string last_diagnostics_;
};

}  // namespace

std::unique_ptr<Source> make_kube_source(const KubeOptions& options) {
    const Env env = Env::process();
    ApiConfig cfg = load_api_config(options.kubeconfig, env, options.context);
    register_secret(cfg.token);
    register_key_pem(cfg.client_key_pem);
    if (cfg.tls) TlsContext check(cfg);  // fail now on an unusable CA or client certificate
    std::string ns = resolve_namespace(options.namespace_override, env);
    if (options.configmap_name.empty() && !options.use_crds) throw std::runtime_error("empty ConfigMap name");
    return std::make_unique<KubeSource>(options, std::move(cfg), std::move(ns), options.watch_silence);
}

}  // namespace nra
