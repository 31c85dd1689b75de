// One list+watch stream with a local cache (client-go reflector semantics,
// kube-api.md section 1): paginated list, watch from the list's
// resourceVersion with bookmarks and a jittered timeout, incremental cache
// updates, 410 -> relist, capped jittered exponential backoff.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>

#include "nra/base/backoff.hpp"
#include "nra/base/loop.hpp"
#include "nra/kube/client.hpp"
#include "nra/kube/objects.hpp"

namespace nra::kube {

class Informer {
public:
    struct Spec {
        std::string name;            // for logs: "bgppeers", "configmap metallb-system/config"
        std::string path;            // "/api/v1/namespaces/NS/configmaps"
        std::string field_selector;  // "metadata.name=config" ("" = none)
        Kind kind;
        bool watch = true;  // false: list once and stop (ONESHOT)
        // Called (from the loop, after the failure is handled: retry scheduled)
        // when a list or watch answers 404: the resource's version may no
        // longer be served (CRDs upgraded). May destroy the informer.
        std::function<void()> on_not_found = {};
        // When set, a 403 or 404 answer to a list or watch stops the
        // informer: no retry, nothing logged; called (deferred, from the
        // loop) with the status. For optional resources. May destroy the
        // informer.
        std::function<void(int status)> on_refused = {};
        std::string label_selector = {};  // "frrk8s.metallb.io/node=n1" ("" = none)
    };

    Informer(EventLoop& loop, ApiClient& client, Spec spec, std::function<void()> on_change);
    ~Informer();
    Informer(const Informer&) = delete;
    Informer& operator=(const Informer&) = delete;

    void start();
    bool synced() const { return synced_; }
    const std::map<std::string, KubeItem>& items() const { return cache_; }

    struct Stats {
        std::size_t lists = 0, watches = 0, expired = 0, errors = 0;
    };
    const Stats& stats() const { return stats_; }

    // Timeouts (tests may shorten them).
    std::chrono::milliseconds list_timeout{60000};
    std::chrono::seconds watch_min{300}, watch_max{600};
    // A watch that delivered nothing (no event, no bookmark) for this long is
    // closed and reopened from the last resourceVersion: the API server sends
    // a bookmark about every minute to a watch that asks for them.
    std::chrono::milliseconds watch_silence{kDefaultWatchSilence};
    static constexpr std::chrono::milliseconds kDefaultWatchSilence{180000};

    // Bounds on what one list may accumulate across its pages, and on the
    // cache a watch fills. Over a bound: the list is dropped (cache and
    // configuration kept), an error logged, and the list retried with backoff.
    std::size_t max_list_pages = 100;
    std::size_t max_items = 30000;
    std::size_t max_list_bytes = 16 * 1024 * 1024;  // response bodies summed over the pages

private:
    enum class Next { List, Watch };

    void list_page();
    void on_list(Response r);
    void watch();
    void on_watch_line(std::string&& line);
    void on_watch_done(Response r);
    void retry(Next next, const std::string& why, int retry_after_seconds = 0);
    void not_found();
    bool refused(int status);  // on_refused applies: the informer stops
    void schedule(Next next, std::chrono::milliseconds delay);
    std::string query(bool watch) const;
    bool upsert(std::string key, KubeItem item);  // false: over max_items (the watch was aborted)
    void arm_silence();
    void stop_silence();
    void release_parser();
    void abort_watch(std::string why, bool relist_now);
    void skipped_object(const ObjectMeta& m, const std::string& error);
    void erase(const std::string& key);

    EventLoop& loop_;
    ApiClient& client_;
    Spec spec_;
    std::function<void()> on_change_;
    simdjson::dom::parser parser_;
    Backoff backoff_;
    std::mt19937_64 rng_{std::random_device{}()};

    std::map<std::string, KubeItem> cache_;
    bool synced_ = false;
    std::string rv_;

    // listing
    std::map<std::string, KubeItem> pending_;
    std::string continue_;
    std::string list_rv_;
    int expired_restarts_ = 0;
    std::size_t list_pages_ = 0;
    std::size_t list_bytes_ = 0;

    // watching
    ApiClient::CallPtr call_;
    EventLoop::Clock::time_point watch_started_{};
    EventLoop::Clock::time_point last_expiry_relist_{};
    static constexpr std::chrono::seconds kExpiryRelistSpacing{10};
    void relist_after_expiry(const std::string& why);
    std::size_t watch_events_ = 0;
    bool watch_aborted_ = false;  // the stream asked for a relist (ERROR event, bad line)
    std::string watch_abort_reason_;
    EventLoop::TimerId timer_ = 0;
    EventLoop::TimerId silence_timer_ = 0;
    Stats stats_;
};

}  // namespace nra::kube
