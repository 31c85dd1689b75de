#include "nra/kube/informer.hpp"

#include <algorithm>

#include "nra/base/log.hpp"
#include "nra/kube/redact.hpp"

namespace nra::kube {

namespace {

const char* kind_name(Kind k) {
    switch (k) {
    case Kind::BgpPeer:
        return "BGPPeer";
    case Kind::IpAddressPool:
        return "IPAddressPool";
    case Kind::BgpAdvertisement:
        return "BGPAdvertisement";
    case Kind::Node:
        return "Node";
    case Kind::ConfigMap:
        return "ConfigMap";
    case Kind::BgpSessionState:
        return "BGPSessionState";
    }
    return "?";
}

int retry_after(const Response& r, const std::optional<Status>& st) {
    int secs = 0;
    const std::string_view h = r.head.header("Retry-After");
    if (!h.empty() && h.size() < 6 && std::all_of(h.begin(), h.end(), [](char c) { return c >= '0' && c <= '9'; }))
        secs = std::stoi(std::string(h));
    if (st && st->retry_after_seconds > secs) secs = st->retry_after_seconds;
    return std::min(secs, 600);
}

// "HTTP 503 (ServiceUnavailable: message)" without echoing whole bodies.
std::string describe(const Response& r, const std::optional<Status>& st) {
    std::string s = "HTTP " + std::to_string(r.status);
    if (st) {
        std::string msg = st->message.size() > 300 ? st->message.substr(0, 300) + "..." : st->message;
        if (!st->reason.empty() || !msg.empty()) s += " (" + st->reason + (msg.empty() ? "" : ": " + msg) + ")";
    } else if (!r.head.reason.empty()) {
        s += " " + r.head.reason;
    }
    return s;
}

// simdjson's parser keeps its buffers (up to ~14 bytes per byte of the
// largest document) after a parse: documents are capped at what the HTTP
// parser accepts, and big buffers are released after use.
constexpr std::size_t kMaxDocument = 4 * 1024 * 1024 + 4096;
constexpr std::size_t kKeepParserCapacity = 256 * 1024;

std::string size_text(std::size_t n) {
    if (n >= 1024 * 1024 && n % (1024 * 1024) == 0) return std::to_string(n / (1024 * 1024)) + " MiB";
    return std::to_string(n) + " bytes";
}

}  // namespace

Informer::Informer(EventLoop& loop, ApiClient& client, Spec spec, std::function<void()> on_change)
    : loop_(loop), client_(client), spec_(std::move(spec)), on_change_(std::move(on_change)), parser_(kMaxDocument) {}

Informer::~Informer() {
    if (timer_) loop_.cancel(timer_);
    stop_silence();
    ApiClient::cancel(call_);
}

void Informer::release_parser() {
    if (parser_.capacity() > kKeepParserCapacity) parser_ = simdjson::dom::parser(kMaxDocument);
}

void Informer::start() {
    ++stats_.lists;
    stop_silence();
    continue_.clear();
    pending_.clear();
    expired_restarts_ = 0;
    list_pages_ = 0;
    list_bytes_ = 0;
    list_page();
}

std::string Informer::query(bool watch) const {
    std::string q;
    auto add = [&](const std::string& k, const std::string& v) {
        q += q.empty() ? "" : "&";
        q += k + "=" + query_escape(v);
    };
    if (watch) {
        add("watch", "1");
        if (!rv_.empty()) add("resourceVersion", rv_);
        add("allowWatchBookmarks", "true");
    } else {
        add("limit", "500");
        if (!continue_.empty()) add("continue", continue_);
    }
    if (!spec_.field_selector.empty()) add("fieldSelector", spec_.field_selector);
    if (!spec_.label_selector.empty()) add("labelSelector", spec_.label_selector);
    return q;
}

void Informer::list_page() {
    const std::string target = spec_.path + "?" + query(false);
    klog::debug("kube: list", {{"stream", spec_.name}, {"target", target}});
    call_ = client_.get(target, false, list_timeout, {{}, [this](Response r) { on_list(std::move(r)); }});
}

void Informer::on_list(Response r) {
    call_.reset();
    struct Release {
        Informer* self;
        ~Release() { self->release_parser(); }
    } release{this};
    if (r.status == 0) return retry(Next::List, "list failed: " + r.error);
    if (refused(r.status)) return;
    if (r.status == 404) not_found();
    if (r.status != 200) {
        auto st = parse_status(parser_, r.body);
        if (r.status == 410) ++stats_.expired;
        if (r.status == 410 && !continue_.empty()) {
            // The continue token expired: restart from page 1 (a fresh snapshot).
            klog::info("kube: list continue token expired; restarting the list", {{"stream", spec_.name}});
            continue_.clear();
            pending_.clear();
            list_pages_ = 0;
            list_bytes_ = 0;
            if (++expired_restarts_ <= 2) return list_page();
        }
        return retry(Next::List, "list failed: " + describe(r, st), retry_after(r, st));
    }
    ++list_pages_;
    list_bytes_ += r.body.size();
    // Bounds over the whole list (a server can chain `continue` forever).
    auto too_big = [&](const std::string& what) {
        pending_.clear();
        continue_.clear();
        retry(Next::List, "list stopped: " + what + "; keeping the previous objects");
    };
    if (list_bytes_ > max_list_bytes)
        return too_big("its pages exceed " + size_text(max_list_bytes) + " in total (" + std::to_string(list_pages_) +
                       " pages)");
    simdjson::dom::element doc;
    simdjson::dom::array items;
    simdjson::dom::element items_elem;
    if (parser_.parse(r.body).get(doc) || doc["items"].get(items_elem))
        return retry(Next::List, "list failed: malformed JSON list body");
    const bool no_items = items_elem.is_null();  // "items": null = empty
    if (!no_items && items_elem.get(items)) return retry(Next::List, "list failed: items is not a list");
    std::string page_rv, cont;
    simdjson::dom::element meta;
    if (!doc["metadata"].get(meta)) {
        std::string_view s;
        if (!meta["resourceVersion"].get(s)) page_rv = std::string(s);
        if (!meta["continue"].get(s)) cont = std::string(s);
    }
    if (continue_.empty()) list_rv_ = page_rv;  // every page carries page 1's resourceVersion
    if (!no_items)
        for (simdjson::dom::element item : items) {
            ObjectMeta m;
            std::string error;
            if (!decode_meta(item, m, error)) {
                skipped_object(m, error);
                continue;
            }
            auto decoded = decode_item(spec_.kind, item, m, error);
            if (!decoded) {
                skipped_object(m, error);
                continue;
            }
            pending_[m.key()] = std::move(*decoded);
            if (pending_.size() > max_items)
                return too_big("more than " + std::to_string(max_items) + " objects (" + std::to_string(list_pages_) +
                               " pages)");
        }
    if (!cont.empty()) {
        if (list_pages_ >= max_list_pages)
            return too_big("the server is still sending continue tokens after " + std::to_string(list_pages_) +
                           " pages");
        continue_ = cont;
        return list_page();
    }
    continue_.clear();
    expired_restarts_ = 0;

    // Replace the cache; keys missing from the new list are synthesized deletes.
    bool changed = pending_.size() != cache_.size();
    for (const auto& [key, item] : cache_) {
        auto it = pending_.find(key);
        if (it == pending_.end()) {
            klog::debug("kube: deleted while not watching", {{"stream", spec_.name}, {"object", key}});
            changed = true;
        } else if (!same_item(item, it->second)) {
            changed = true;
        }
    }
    cache_ = std::move(pending_);
    pending_.clear();
    rv_ = list_rv_;
    const bool first = !synced_;
    synced_ = true;
    klog::verbose("kube: listed", {{"stream", spec_.name}, {"items", cache_.size()}, {"resourceVersion", rv_}});
    if (changed || first) on_change_();
    if (spec_.watch) watch();
}

void Informer::watch() {
    ++stats_.watches;
    std::uniform_int_distribution<long> dist(watch_min.count(), std::max(watch_min.count(), watch_max.count() - 1));
    const long timeout = dist(rng_);
    const std::string target = spec_.path + "?" + query(true) + "&timeoutSeconds=" + std::to_string(timeout);
    klog::debug("kube: watch", {{"stream", spec_.name}, {"target", target}});
    watch_started_ = EventLoop::Clock::now();
    watch_events_ = 0;
    watch_aborted_ = false;
    watch_abort_reason_.clear();
    call_ = client_.get(target, true, std::chrono::seconds(timeout + 30),
                        {[this](std::string&& line) { on_watch_line(std::move(line)); },
                         [this](Response r) { on_watch_done(std::move(r)); }});
    arm_silence();
}

void Informer::arm_silence() {
    stop_silence();
    silence_timer_ = loop_.after(watch_silence, [this] {
        silence_timer_ = 0;
        if (!call_) return;
        const auto ms = watch_silence.count();
        klog::warn("kube: watch silent for " +
                       (ms % 1000 ? std::to_string(ms) + " ms" : std::to_string(ms / 1000) + " s") +
                       " (no event, no bookmark); reopening it from the last resourceVersion",
                   {{"stream", spec_.name}, {"resourceVersion", rv_}});
        auto call = std::move(call_);
        ApiClient::cancel(call);  // no on_watch_done for this call
        watch();
    });
}

void Informer::stop_silence() {
    if (silence_timer_) loop_.cancel(silence_timer_);
    silence_timer_ = 0;
}

void Informer::skipped_object(const ObjectMeta& m, const std::string& error) {
    if (m.name.empty()) {
        klog::warn("kube: object without a usable metadata.name skipped",
                   {{"stream", spec_.name}, {"kind", kind_name(spec_.kind)}, {"error", error}});
    } else {
        klog::warn("kube: malformed object skipped",
                   {{"stream", spec_.name}, {"kind", kind_name(spec_.kind)}, {"object", m.key()}, {"error", error}});
    }
}

bool Informer::upsert(std::string key, KubeItem item) {
    auto it = cache_.find(key);
    if (it != cache_.end() && same_item(it->second, item)) return true;  // e.g. a Node status heartbeat
    if (it == cache_.end() && cache_.size() >= max_items) {
        abort_watch("watch would grow the cache beyond " + std::to_string(max_items) + " objects", false);
        return false;
    }
    cache_[std::move(key)] = std::move(item);
    on_change_();
    return true;
}

void Informer::abort_watch(std::string why, bool relist_now) {
    watch_aborted_ = true;
    watch_abort_reason_ = std::move(why);
    stop_silence();
    auto call = std::move(call_);
    ApiClient::cancel(call);  // no on_watch_done for this call
    if (relist_now) {
        relist_after_expiry(watch_abort_reason_);
    } else {
        retry(Next::List, watch_abort_reason_);
    }
}

// An expired resourceVersion means relist at once; one that expires again
// right after that relist (a server compacting faster than we can watch, or
// answering every watch with 410) goes through the backoff, never a hot loop.
void Informer::relist_after_expiry(const std::string& why) {
    const auto now = EventLoop::Clock::now();
    if (now - last_expiry_relist_ < kExpiryRelistSpacing) return retry(Next::List, why + " again soon after a relist");
    last_expiry_relist_ = now;
    klog::info("kube: " + why + "; relisting", {{"stream", spec_.name}});
    start();
}

void Informer::erase(const std::string& key) {
    if (cache_.erase(key)) on_change_();
}

void Informer::on_watch_line(std::string&& line) {
    if (watch_aborted_) return;
    arm_silence();  // anything at all is a sign of life
    struct Release {
        Informer* self;
        ~Release() { self->release_parser(); }
    } release{this};
    auto abort = [&](std::string why, bool relist_now) { abort_watch(std::move(why), relist_now); };
    simdjson::dom::element doc, obj;
    std::string_view type;
    if (parser_.parse(line).get(doc) || doc["type"].get(type) || doc["object"].get(obj) || !obj.is_object())
        return abort("malformed watch event", false);
    if (type == "ERROR") {
        auto st = decode_status(obj);
        if (st && (st->code == 410 || st->reason == "Expired" || st->reason == "Gone")) {
            ++stats_.expired;
            return abort("watch expired (" + (st->reason.empty() ? std::string("410") : st->reason) + ")", true);
        }
        std::string why = "watch ERROR event";
        if (st)
            why += ": " + std::to_string(st->code) + " " + st->reason + (st->message.empty() ? "" : ": " + st->message);
        return abort(why, false);
    }
    ++watch_events_;
    ObjectMeta m;
    std::string meta_error;
    const bool meta_ok = decode_meta(obj, m, meta_error);
    if (type == "BOOKMARK") {
        simdjson::dom::element meta;
        std::string_view rv;
        if (!obj["metadata"].get(meta) && !meta["resourceVersion"].get(rv) && !rv.empty()) rv_ = std::string(rv);
        return;
    }
    if (type != "ADDED" && type != "MODIFIED" && type != "DELETED") {
        klog::warn("kube: unknown watch event type skipped", {{"stream", spec_.name}, {"type", std::string(type)}});
        return;
    }
    std::string_view kind;
    if (!obj["kind"].get(kind) && kind != kind_name(spec_.kind)) {
        klog::warn("kube: unexpected object kind skipped", {{"stream", spec_.name}, {"kind", std::string(kind)}});
        return;
    }
    if (!m.resource_version.empty()) rv_ = m.resource_version;
    if (type == "DELETED" && !m.name.empty()) return erase(m.key());  // gone, whatever its last state held
    if (!meta_ok) return skipped_object(m, meta_error);
    std::string error;
    auto decoded = decode_item(spec_.kind, obj, m, error);
    if (!decoded) return skipped_object(m, error);
    upsert(m.key(), std::move(*decoded));
}

void Informer::on_watch_done(Response r) {
    call_.reset();
    stop_silence();
    const auto elapsed = EventLoop::Clock::now() - watch_started_;
    const bool quick_empty = elapsed < std::chrono::seconds(1) && watch_events_ == 0;
    if (r.status == 0) {
        if (r.protocol_error) return retry(Next::List, "watch failed: " + r.error);
        if (r.head.status == 200 && !quick_empty) {
            // The stream was cut (reset, EOF mid-object, deadline): resume from the last RV.
            klog::verbose("kube: watch interrupted; resuming", {{"stream", spec_.name}, {"error", r.error}});
            return watch();
        }
        return retry(Next::Watch, "watch failed: " + r.error);
    }
    if (r.status == 200) {
        if (quick_empty) return retry(Next::Watch, "watch closed within 1 s without events");
        klog::debug("kube: watch ended; resuming", {{"stream", spec_.name}, {"resourceVersion", rv_}});
        return watch();
    }
    if (refused(r.status)) return;
    auto st = parse_status(parser_, r.body);
    if (r.status == 404) not_found();
    if (r.status == 410) {
        ++stats_.expired;
        return relist_after_expiry("watch resourceVersion expired (HTTP 410)");
    }
    if (r.status == 504 && st &&
        std::find(st->cause_reasons.begin(), st->cause_reasons.end(), "ResourceVersionTooLarge") !=
            st->cause_reasons.end())
        return retry(Next::List, "watch failed: " + describe(r, st));
    if (r.status == 429) return retry(Next::Watch, "watch throttled: " + describe(r, st), retry_after(r, st));
    return retry(Next::List, "watch failed: " + describe(r, st), retry_after(r, st));
}

void Informer::not_found() {
    // Deferred: the callback may replace (destroy) this informer.
    if (spec_.on_not_found) loop_.after(std::chrono::milliseconds(0), [cb = spec_.on_not_found] { cb(); });
}

bool Informer::refused(int status) {
    if (!spec_.on_refused || (status != 403 && status != 404)) return false;
    loop_.after(std::chrono::milliseconds(0), [cb = spec_.on_refused, status] { cb(status); });
    return true;
}

void Informer::retry(Next next, const std::string& why, int retry_after_seconds) {
    ++stats_.errors;
    auto delay = backoff_.next();
    if (retry_after_seconds > 0)
        delay = std::max<std::chrono::milliseconds>(delay, std::chrono::seconds(retry_after_seconds));
    klog::warn("kube: " + why, {{"stream", spec_.name},
                                {"retry_in_ms", static_cast<long long>(delay.count())},
                                {"attempt", backoff_.steps()},
                                {"then", next == Next::List ? "list" : "watch"}});
    schedule(next, delay);
}

void Informer::schedule(Next next, std::chrono::milliseconds delay) {
    if (timer_) loop_.cancel(timer_);
    timer_ = loop_.after(delay, [this, next] {
        timer_ = 0;
        if (next == Next::List) {
            start();
        } else {
            watch();
        }
    });
}

}  // namespace nra::kube
