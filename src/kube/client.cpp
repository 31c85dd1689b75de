#include "nra/kube/client.hpp"

#include <sys/stat.h>

#include "nra/base/file.hpp"
#include "nra/base/log.hpp"
#include "nra/base/loop.hpp"
#include "nra/kube/redact.hpp"

namespace nra::kube {

namespace {
constexpr std::size_t kMaxIdle = 4;
constexpr std::size_t kMaxWarnings = 64;  // distinct Warning headers remembered (to warn once each)
constexpr std::chrono::milliseconds kHeadTimeout{30000};
constexpr std::chrono::seconds kAddressRefresh{30};  // a lookup when the cache is older
constexpr std::chrono::milliseconds kConnectPerAddress{3000};
}  // namespace

class ApiClient::Call : public std::enable_shared_from_this<Call> {
public:
    Call(ApiClient& client, std::string target, bool stream, Handlers h)
        : client_(client), alive_(client.alive_), target_(std::move(target)), stream_(stream), h_(std::move(h)) {}

    void start(std::chrono::milliseconds timeout) {
        std::weak_ptr<Call> weak = weak_from_this();
        timer_ = client_.loop_.after(timeout, [weak, timeout] {
            if (auto self = weak.lock()) {
                self->timer_ = 0;
                self->finish_error("no complete response within " + std::to_string(timeout.count() / 1000) + " s");
            }
        });
        // Connect + TLS + response headers must not take long, whatever the
        // overall deadline (a watch's is timeoutSeconds + 30 s).
        const auto head_timeout = std::min<std::chrono::milliseconds>(timeout, kHeadTimeout);
        head_timer_ = client_.loop_.after(head_timeout, [weak, head_timeout] {
            if (auto self = weak.lock()) {
                self->head_timer_ = 0;
                self->finish_error("no response headers within " + std::to_string(head_timeout.count() / 1000) + " s");
            }
        });
        // The first token of an exec plugin is waited for (on the loop).
        client_.token_->when_ready([weak] {
            auto self = weak.lock();
            if (!self || self->finished_) return;
            self->attach(self->stream_ ? nullptr : self->client_.take_idle());
        });
    }

    void cancel() {
        if (finished_) return;
        finished_ = true;
        retire_handlers();
        cancel_timers();
        if (conn_) conn_->close();
        conn_.reset();
    }

private:
    // A call may end inside one of its own handlers (a watch cancelled from
    // its line callback, an error found while a line is delivered): the
    // running handler must outlive that, so the handlers are destroyed on a
    // later loop turn instead of under their own feet.
    void retire_handlers() {
        if (*alive_ && h_.on_line)
            client_.loop_.after(std::chrono::milliseconds(0), [h = std::make_shared<Handlers>(std::move(h_))] {});
        h_ = {};
    }

    void cancel_timers() {
        if (*alive_) {
            if (timer_) client_.loop_.cancel(timer_);
            if (head_timer_) client_.loop_.cancel(head_timer_);
        }
        timer_ = head_timer_ = 0;
    }

    // Sends the request on `reused` (an idle keep-alive connection) or a new one.
    void attach(std::shared_ptr<Connection> reused) {
        reused_ = reused != nullptr;
        if (reused) {
            conn_ = std::move(reused);
            wire();
            return;
        }
        std::weak_ptr<Call> weak = weak_from_this();
        client_.with_addresses([weak](const std::vector<Address>& addrs, const std::string& lookup_error) {
            auto self = weak.lock();
            if (!self || self->finished_) return;
            std::string error = lookup_error;
            if (error.empty()) {
                self->client_.refresh_tls();
                self->conn_ = Connection::open(self->client_.loop_, self->client_.cfg_, self->client_.tls_, addrs,
                                               error, kConnectPerAddress, self->client_.user_agent);
            }
            if (!self->conn_) {
                // Report asynchronously: callers expect no callback from get().
                self->client_.loop_.after(std::chrono::milliseconds(0), [weak, error] {
                    if (auto s = weak.lock()) s->finish_error(error);
                });
                return;
            }
            self->wire();
        });
    }

    void wire() {
        std::weak_ptr<Call> weak = weak_from_this();
        conn_->set_handlers({
            {},
            [weak](std::string_view data) {
                if (auto self = weak.lock()) self->on_data(data);
            },
            [weak](const std::string& error) {
                if (auto self = weak.lock()) self->on_close(error);
            },
        });
        parser_.begin(stream_);
        const ApiConfig& cfg = client_.cfg_;
        const std::string& token = cfg.tls ? client_.token_->get() : std::string();
        if (cfg.proxy && !cfg.tls) {  // an http server through a proxy: absolute-form request to the proxy
            const std::string auth = cfg.proxy->authorization.empty()
                                         ? std::string()
                                         : "Proxy-Authorization: " + cfg.proxy->authorization + "\r\n";
            conn_->send(build_get(cfg.host_header(), "http://" + cfg.host_header() + cfg.path_prefix + target_, token,
                                  client_.user_agent, auth));
            return;
        }
        conn_->send(build_get(cfg.host_header(), cfg.path_prefix + target_, token, client_.user_agent));
    }

    void on_data(std::string_view data) {
        auto self = shared_from_this();
        events_.clear();
        const std::size_t used = parser_.feed(data, events_);
        got_bytes_ = true;
        if (used < data.size() && !parser_.failed()) extra_bytes_ = true;
        process();
    }

    void on_close(const std::string& error) {
        auto self = shared_from_this();
        if (conn_ && !conn_->connected() && *alive_) client_.connect_failed();
        conn_.reset();  // already closed
        events_.clear();
        parser_.finish(events_);
        if (!got_bytes_ && reused_ && !finished_) {
            // The server closed an idle keep-alive connection under us: retry once, fresh.
            attach(nullptr);
            return;
        }
        if (!error.empty() && !parser_.done()) {
            events_.clear();  // report the transport error rather than "closed mid-response"
            finish_error(error);
            return;
        }
        closing_ = true;
        process();
        if (!finished_) finish_error("connection closed");
    }

    void process() {
        for (auto& ev : events_) {
            if (finished_) return;
            switch (ev.kind) {
            case HttpEvent::Kind::Head:
                if (head_timer_ && *alive_) client_.loop_.cancel(head_timer_);
                head_timer_ = 0;
                for (auto w : parser_.head().headers_named("Warning")) {
                    // Deprecation warnings repeat on every request: warn once each.
                    if (client_.warnings_.size() >= kMaxWarnings) client_.warnings_.clear();  // bounded
                    const bool first = client_.warnings_.insert(std::string(w)).second;
                    klog::write(first ? log::Level::Warn : log::Level::Debug, "kube: API server warning",
                                {{"warning", std::string(w)}});
                }
                if (parser_.head().status == 401) client_.token_->invalidate();
                break;
            case HttpEvent::Kind::Line:
                if (h_.on_line) h_.on_line(std::move(ev.data));
                break;
            case HttpEvent::Kind::Done:
                finish_ok(std::move(ev.data));
                return;
            case HttpEvent::Kind::Error:
                protocol_error_ = !closing_;
                finish_error((closing_ ? "" : "bad HTTP response: ") + ev.data);
                return;
            }
        }
    }

    void finish_ok(std::string body) {
        Response r;
        r.status = parser_.head().status;
        r.head = parser_.head();
        r.body = std::move(body);
        if (conn_) {
            if (!stream_ && parser_.keep_alive() && !extra_bytes_ && *alive_) {
                client_.park(std::move(conn_));
            } else {
                conn_->close();
            }
            conn_.reset();
        }
        deliver(std::move(r));
    }

    void finish_error(std::string error) {
        Response r;
        r.error = std::move(error);
        r.protocol_error = protocol_error_;
        if (parser_.head_complete()) r.head = parser_.head();
        if (conn_) conn_->close();
        conn_.reset();
        deliver(std::move(r));
    }

    void deliver(Response r) {
        if (finished_) return;
        finished_ = true;
        cancel_timers();
        auto done = std::move(h_.on_done);
        retire_handlers();
        if (done) done(std::move(r));
    }

    ApiClient& client_;
    std::shared_ptr<bool> alive_;
    std::string target_;
    bool stream_;
    Handlers h_;
    std::shared_ptr<Connection> conn_;
    ResponseParser parser_;
    std::vector<HttpEvent> events_;
    EventLoop::TimerId timer_ = 0;
    EventLoop::TimerId head_timer_ = 0;
    bool reused_ = false;
    bool got_bytes_ = false;
    bool extra_bytes_ = false;
    bool finished_ = false;
    bool closing_ = false;
    bool protocol_error_ = false;
};

ApiClient::ApiClient(EventLoop& loop, ApiConfig cfg)
    : loop_(loop), cfg_(std::move(cfg)), alive_(std::make_shared<bool>(true)) {
    token_ = cfg_.exec ? std::make_unique<TokenSource>(*cfg_.exec, &loop_)
                       : std::make_unique<TokenSource>(cfg_.token, cfg_.token_file);
    if (cfg_.tls) {
        tls_ = std::make_shared<const TlsContext>(cfg_);
        for (const auto* f : {&cfg_.ca_file, &cfg_.client_cert_file, &cfg_.client_key_file})
            tls_stamps_.push_back(stamp(*f));
    }
    dial_host_ = cfg_.proxy ? cfg_.proxy->host : cfg_.host;
    dial_port_ = cfg_.proxy ? cfg_.proxy->port : cfg_.port;
    if (cfg_.proxy)
        klog::info("kube: connecting through a proxy",
                   {{"proxy", cfg_.proxy->display}, {"from", cfg_.proxy->origin}, {"server", cfg_.url()}});
    addrs_ = numeric_addresses(dial_host_, dial_port_);
    if (addrs_.empty()) resolver_ = std::make_unique<Resolver>(loop_);
}

std::string ApiClient::default_user_agent() {
#if defined(__x86_64__)
    const char* arch = "amd64";
#elif defined(__aarch64__)
    const char* arch = "arm64";
#elif defined(__arm__)
    const char* arch = "arm";
#elif defined(__i386__)
    const char* arch = "386";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const char* arch = "ppc64le";
#elif defined(__s390x__)
    const char* arch = "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
    const char* arch = "riscv64";
#else
    const char* arch = "unknown";
#endif
    return std::string("metallb-nra/") + NRA_VERSION + " (linux/" + arch + ")";
}

ApiClient::FileStamp ApiClient::stamp(const std::string& path) {
    FileStamp s;
    struct stat st {};
    if (path.empty() || ::stat(path.c_str(), &st) != 0) return s;
    s.exists = true;
    s.ino = st.st_ino;
    s.size = static_cast<std::uint64_t>(st.st_size);
    s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    return s;
}

void ApiClient::refresh_tls() {
    if (!cfg_.tls || (cfg_.ca_file.empty() && cfg_.client_cert_file.empty() && cfg_.client_key_file.empty())) return;
    const std::string* files[] = {&cfg_.ca_file, &cfg_.client_cert_file, &cfg_.client_key_file};
    std::vector<FileStamp> now;
    for (const auto* f : files) now.push_back(stamp(*f));
    if (now == tls_stamps_ || now == tls_bad_stamps_) return;
    ApiConfig next = cfg_;
    std::string error;
    std::string* pems[] = {&next.ca_pem, &next.client_cert_pem, &next.client_key_pem};
    for (std::size_t i = 0; i < 3 && error.empty(); ++i) {
        if (files[i]->empty()) continue;
        auto text = read_whole_file(*files[i]);
        if (!text || text.value->empty()) {
            error = "cannot read " + *files[i] + (text ? ": empty" : ": " + text.error);
            continue;
        }
        *pems[i] = std::move(*text.value);
    }
    if (error.empty()) {
        try {
            auto ctx = std::make_shared<const TlsContext>(next);
            register_key_pem(next.client_key_pem);  // only once it is the key in use
            tls_ = std::move(ctx);                  // connections being set up keep the old one
            cfg_.ca_pem = std::move(next.ca_pem);
            cfg_.client_cert_pem = std::move(next.client_cert_pem);
            cfg_.client_key_pem = std::move(next.client_key_pem);
            tls_stamps_ = std::move(now);
            tls_bad_stamps_.clear();
            klog::info("kube: TLS files changed; new connections use them",
                       {{"ca", cfg_.ca_file}, {"client_certificate", cfg_.client_cert_file}});
            return;
        } catch (const std::exception& e) {
            error = e.what();
        }
    }
    tls_bad_stamps_ = std::move(now);
    klog::error("kube: changed TLS files are unusable; keeping the last good ones",
                {{"error", error}, {"ca", cfg_.ca_file}, {"client_certificate", cfg_.client_cert_file}});
}

ApiClient::~ApiClient() {
    *alive_ = false;
    resolver_.reset();  // no lookup callbacks from here on
    for (auto& c : idle_) c->close();
}

ApiClient::CallPtr ApiClient::get(const std::string& target, bool stream, std::chrono::milliseconds timeout,
                                  Handlers h) {
    auto call = std::make_shared<Call>(*this, target, stream, std::move(h));
    call->start(timeout);
    return call;
}

void ApiClient::with_addresses(AddressesFn fn) {
    if (!resolver_) return fn(addrs_, "");  // an IP literal
    if (!addrs_.empty()) {
        if (addrs_stale_ || std::chrono::steady_clock::now() - resolved_at_ >= kAddressRefresh) start_lookup();
        return fn(addrs_, "");  // the last good ones while a lookup is pending or failing
    }
    addr_waiters_.push_back(std::move(fn));
    start_lookup();
}

void ApiClient::connect_failed() {
    if (resolver_) addrs_stale_ = true;
}

void ApiClient::start_lookup() {
    if (lookup_pending_) return;
    lookup_pending_ = true;
    resolver_->resolve(dial_host_, dial_port_, [this](std::vector<Address> addrs, const std::string& error) {
        lookup_pending_ = false;
        if (error.empty()) {
            auto ordered = interleave_families(addrs);
            std::string list;
            for (const auto& a : ordered) list += (list.empty() ? "" : " ") + a.text();
            std::string before;
            for (const auto& a : addrs_) before += (before.empty() ? "" : " ") + a.text();
            if (list != before)
                klog::info("kube: API server address resolved", {{"host", dial_host_}, {"addresses", list}});
            addrs_ = std::move(ordered);
            resolved_at_ = std::chrono::steady_clock::now();
            addrs_stale_ = false;
        } else if (!addrs_.empty()) {
            klog::warn("kube: cannot resolve the API server; keeping its last good addresses",
                       {{"host", dial_host_}, {"error", error}});
            resolved_at_ = std::chrono::steady_clock::now();  // retried after kAddressRefresh or a failed connect
            addrs_stale_ = false;
        } else {
            klog::warn("kube: cannot resolve the API server", {{"host", dial_host_}, {"error", error}});
        }
        auto waiters = std::move(addr_waiters_);
        addr_waiters_.clear();
        for (auto& w : waiters) w(addrs_, addrs_.empty() ? error : std::string());
    });
}

void ApiClient::cancel(const CallPtr& call) {
    if (call) call->cancel();
}

void ApiClient::park(std::shared_ptr<Connection> conn) {
    if (idle_.size() >= kMaxIdle || !conn->is_open()) {
        conn->close();
        return;
    }
    Connection* raw = conn.get();
    // An idle connection that becomes readable is being closed by the server.
    conn->set_handlers(
        {{}, [this, raw](std::string_view) { unpark(raw); }, [this, raw](const std::string&) { unpark(raw); }});
    idle_.push_back(std::move(conn));
}

void ApiClient::unpark(Connection* raw) {
    for (auto it = idle_.begin(); it != idle_.end(); ++it) {
        if (it->get() == raw) {
            auto keep = *it;  // alive until the handler returns
            idle_.erase(it);
            keep->close();
            return;
        }
    }
}

std::shared_ptr<Connection> ApiClient::take_idle() {
    while (!idle_.empty()) {
        auto c = std::move(idle_.back());
        idle_.pop_back();
        if (c->is_open()) return c;
    }
    return nullptr;
}

}  // namespace nra::kube
