// Where the API server is and how to authenticate: in-cluster service account
// or kubeconfig, resolved into one owned ApiConfig. Loading is separated from
// the process environment (Env) so precedence and parsing are unit-testable.
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace nra {
class EventLoop;
class ChildProcess;
struct ScriptResult;
}  // namespace nra

namespace nra::kube {

inline constexpr std::string_view kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

struct ApiConfig {
    std::string source;  // "in-cluster" or "kubeconfig /path (context X)": for logs
    bool tls = true;     // false only for an explicit http:// server (no credentials sent)
    std::string host;    // without brackets
    std::uint16_t port = 443;
    bool host_is_ip = false;
    std::string path_prefix;  // from the server URL, no trailing '/'
    std::string server_name;  // tls-server-name: SNI + verification name ("" = host)

    std::string ca_pem;     // CA bundle (PEM); required unless insecure
    std::string ca_origin;  // file path or "certificate-authority-data", for errors
    bool insecure = false;  // insecure-skip-tls-verify
    std::string client_cert_pem;
    std::string client_key_pem;
    // The files the PEMs above came from ("" = inline data): re-read when they
    // change, before a new connection (ApiClient), as client-go does at each
    // handshake.
    std::string ca_file;
    std::string client_cert_file;
    std::string client_key_file;

    // An HTTP proxy (kube/proxy.hpp): CONNECT tunnel for an https server,
    // absolute-form requests for an http one.
    struct Proxy {
        std::string host;  // without brackets
        std::uint16_t port = 80;
        std::string authorization;  // Proxy-Authorization value ("Basic ..."), "" = none
        std::string display;        // the URL with its password redacted, for logs and errors
        std::string origin;         // "HTTPS_PROXY", "kubeconfig proxy-url", ...
    };
    std::optional<Proxy> proxy;
    bool proxy_from_kubeconfig = false;  // proxy-url set: the environment is not consulted

    // A kubeconfig `exec` credential plugin (client.authentication.k8s.io
    // v1/v1beta1), token form: run non-interactively on the event loop, its
    // ExecCredential's status.token used until a new one arrives; re-run
    // shortly before expirationTimestamp (TokenSource) and after a 401.
    struct ExecPlugin {
        std::string command;  // resolved against the kubeconfig's directory when relative with '/'
        std::vector<std::string> args;
        std::vector<std::string> env;  // "NAME=value"
        std::string api_version;
    };
    std::optional<ExecPlugin> exec;
    std::string token;       // static token (kubeconfig `token`)
    std::string token_file;  // re-read when it changes (service account, tokenFile)

    std::string namespace_;  // context namespace / service-account namespace file ("" = unknown)

    std::string host_header() const;  // "host:port" with IPv6 brackets
    std::string url() const;          // for logs
};

// What the loader may look at; the defaults use the real process environment.
struct Env {
    std::function<std::optional<std::string>(const std::string&)> getenv;
    std::function<std::optional<std::string>(const std::string&)> read_file;  // nullopt = unreadable
    std::function<bool(const std::string&)> is_regular_file;
    std::string service_account_dir = std::string(kServiceAccountDir);
    static Env process();
};

// Parses "https://host[:port][/prefix]" into cfg (host, port, tls, path prefix).
// Returns an error message, "" on success.
std::string parse_server_url(std::string_view url, ApiConfig& cfg);

// A --context naming no context of the kubeconfig (a usage error: exit 2).
struct UnknownContext : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Loads a kubeconfig from one explicit path, or merges a ':'-list of files
// (missing files skipped, first definition of a name wins), using `context`
// ("" = current-context). Throws std::runtime_error with a clear message
// (UnknownContext for an unknown explicit context).
ApiConfig load_kubeconfig(const std::vector<std::string>& paths, bool explicit_path, const Env& env,
                          const std::string& context = "");

// In-cluster configuration, or nullopt when not running in a pod.
std::optional<ApiConfig> load_in_cluster(const Env& env);

// Precedence: explicit kubeconfig > in-cluster > $KUBECONFIG > ~/.kube/config;
// an explicit `context` skips the in-cluster configuration (a context is a
// kubeconfig's). The proxy environment (HTTPS_PROXY, NO_PROXY ...) is applied
// unless the kubeconfig names a proxy-url. Throws std::runtime_error when
// nothing usable is found.
ApiConfig load_api_config(const std::string& explicit_kubeconfig, const Env& env, const std::string& context = "");

// The MetalLB namespace: override, else the service-account namespace file,
// else "metallb-system".
std::string resolve_namespace(const std::string& override_ns, const Env& env);

// A bearer token, re-read from its file when the file changes (mtime) or at
// most every `refresh` otherwise, and after invalidate() (a 401). The old
// token is kept when the file is briefly unreadable or empty.
// Parses an ExecCredential printed by a credential plugin: status.token and
// the optional status.expirationTimestamp (RFC 3339, UTC). Returns "" on
// success, else what is wrong (never the token).
std::string parse_exec_credential(std::string_view json, std::string& token, std::optional<std::time_t>& expiry);

// Exec plugin tokens, with a loop: the plugin runs as a ChildProcess and
// never blocks the loop. get() returns the current token at once (the
// previous one while a new run is under way) and starts a run when there is
// no token, after invalidate() (a 401), or when the refresh point has passed.
// After a token with an expirationTimestamp arrives, a run is scheduled at
// expiry - margin, margin = 10 % of the token's lifetime bounded to
// [10 s, 5 min] but never more than half the lifetime. A failed run (cannot
// start, non-zero exit, timeout, unusable output) is logged without the
// token, the previous token is kept and the run is retried after 1, 2, 4 ...
// 60 s. Without a loop (unit tests, tools) the plugin runs synchronously.
class TokenSource {
public:
    using Clock = std::chrono::steady_clock;
    static constexpr std::chrono::seconds kPluginTimeout{30};

    TokenSource() = default;
    TokenSource(std::string static_token, std::string file);
    explicit TokenSource(ApiConfig::ExecPlugin plugin, EventLoop* loop = nullptr);
    ~TokenSource();
    TokenSource(const TokenSource&) = delete;
    TokenSource& operator=(const TokenSource&) = delete;

    // The token for the next request ("" = none).
    const std::string& get();
    void invalidate() { force_ = true; }
    bool has_file() const { return !file_.empty(); }

    // Calls `cb` (from the loop, or at once) when a request may go out: there
    // is a token, or no plugin run is pending that could produce a first one.
    void when_ready(std::function<void()> cb);
    bool plugin_running() const { return child_ != nullptr; }

    // expiry - margin as documented above, from the lifetime left at receipt.
    static std::chrono::seconds refresh_after(std::chrono::seconds lifetime);

private:
    void reload();
    void run_plugin();    // synchronous (no loop)
    void start_plugin();  // on the loop
    bool plugin_due() const;
    void plugin_result(const nra::ScriptResult& r);
    void schedule(std::chrono::milliseconds d);

    std::optional<ApiConfig::ExecPlugin> exec_;
    EventLoop* loop_ = nullptr;
    std::unique_ptr<ChildProcess> child_;
    std::uint64_t timer_ = 0;  // the next scheduled run (refresh or retry)
    std::vector<std::function<void()>> waiters_;
    std::chrono::seconds backoff_{0};
    Clock::time_point refresh_at_{Clock::time_point::max()};
    std::optional<std::time_t> expiry_;    // of the plugin's token
    Clock::time_point next_plugin_run_{};  // a failed run is not retried on every request
    std::string token_;
    std::string file_;
    Clock::time_point last_read_{};
    std::chrono::seconds refresh_{60};
    struct timespec mtime_ {};
    bool force_ = true;
};

}  // namespace nra::kube
