#include "nra/kube/config.hpp"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <stdexcept>

#include <simdjson.h>

#include "nra/base/file.hpp"
#include "nra/base/log.hpp"
#include "nra/base/text.hpp"
#include "nra/base/loop.hpp"
#include "nra/base/child.hpp"
#include "nra/doc/tree.hpp"
#include "nra/doc/yaml.hpp"
#include "nra/kube/proxy.hpp"
#include "nra/kube/redact.hpp"

namespace nra::kube {

namespace {

std::string trim_ws(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return std::string(s);
}

bool is_ip_literal(const std::string& h) {
    unsigned char buf[16];
    return ::inet_pton(AF_INET, h.c_str(), buf) == 1 || ::inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

std::optional<std::string> base64_decode(std::string_view in) {
    auto val = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+' || c == '-') return 62;
        if (c == '/' || c == '_') return 63;
        return -1;
    };
    std::string out;
    unsigned buf = 0;
    int bits = 0;
    bool padding = false;
    for (char c : in) {
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
        if (c == '=') {
            padding = true;
            continue;
        }
        const int v = val(c);
        if (v < 0 || padding) return std::nullopt;
        buf = (buf << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buf >> bits) & 0xff);
        }
    }
    return out;
}

std::vector<std::string> split_list(std::string_view s) {
    std::vector<std::string> out;
    while (true) {
        const auto c = s.find(':');
        std::string part(s.substr(0, c));
        if (!part.empty()) {
            bool dup = false;
            for (const auto& o : out) dup = dup || o == part;
            if (!dup) out.push_back(std::move(part));
        }
        if (c == std::string_view::npos) break;
        s.remove_prefix(c + 1);
    }
    return out;
}

std::string dir_of(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

// A named kubeconfig entry (cluster, user or context) and the directory of
// the file that defined it, for relative paths.
struct Entry {
    const Node* body = nullptr;
    std::string dir;
    std::string file;
};

std::string scalar_at(const Node* map, std::string_view key) {
    if (!map || !map->is_map()) return {};
    const Node* n = map->get(key);
    return n && n->is_scalar() ? n->scalar : std::string();
}

// kubeconfig booleans (YAML spellings): the project's one boolean set.
bool truthy(const std::string& s) { return parse_bool(s).value_or(false); }

}  // namespace

std::string ApiConfig::host_header() const {
    const bool v6 = host.find(':') != std::string::npos;
    std::string h = v6 ? "[" + host + "]" : host;
    if ((tls && port != 443) || (!tls && port != 80)) h += ":" + std::to_string(port);
    return h;
}

std::string ApiConfig::url() const {
    const bool v6 = host.find(':') != std::string::npos;
    return std::string(tls ? "https://" : "http://") + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) +
           path_prefix;
}

Env Env::process() {
    Env e;
    e.getenv = [](const std::string& k) -> std::optional<std::string> {
        const char* v = std::getenv(k.c_str());
        if (!v) return std::nullopt;
        return std::string(v);
    };
    e.read_file = [](const std::string& path) -> std::optional<std::string> {
        auto text = read_whole_file(path);
        if (!text) return std::nullopt;
        return std::move(*text.value);
    };
    e.is_regular_file = [](const std::string& path) {
        struct stat st {};
        return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
    };
    return e;
}

std::string parse_server_url(std::string_view url, ApiConfig& cfg) {
    std::string_view rest;
    if (url.substr(0, 8) == "https://") {
        cfg.tls = true;
        rest = url.substr(8);
    } else if (url.substr(0, 7) == "http://") {
        cfg.tls = false;
        rest = url.substr(7);
    } else {
        return "server URL '" + std::string(url) + "' must start with https:// (or http://)";
    }
    const auto slash = rest.find('/');
    std::string_view hostport = rest.substr(0, slash);
    std::string prefix = slash == std::string_view::npos ? std::string() : std::string(rest.substr(slash));
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    if (prefix.find_first_of("?#") != std::string::npos) return "server URL must not carry a query or fragment";
    std::string_view port_text;
    if (!hostport.empty() && hostport.front() == '[') {
        const auto close = hostport.find(']');
        if (close == std::string_view::npos) return "server URL: unbalanced '[' in host";
        cfg.host = std::string(hostport.substr(1, close - 1));
        std::string_view after = hostport.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return "server URL: garbage after ']'";
            port_text = after.substr(1);
        }
    } else {
        const auto colon = hostport.rfind(':');
        if (colon != std::string_view::npos) {
            cfg.host = std::string(hostport.substr(0, colon));
            port_text = hostport.substr(colon + 1);
        } else {
            cfg.host = std::string(hostport);
        }
    }
    if (cfg.host.empty()) return "server URL '" + std::string(url) + "' has no host";
    if (cfg.host.find_first_of(" /@") != std::string::npos) return "server URL: invalid host '" + cfg.host + "'";
    if (!port_text.empty()) {
        unsigned long p = 0;
        for (char c : port_text) {
            if (c < '0' || c > '9') return "server URL: invalid port '" + std::string(port_text) + "'";
            p = p * 10 + static_cast<unsigned long>(c - '0');
            if (p > 65535) return "server URL: invalid port '" + std::string(port_text) + "'";
        }
        if (p == 0) return "server URL: invalid port 0";
        cfg.port = static_cast<std::uint16_t>(p);
    } else {
        cfg.port = cfg.tls ? 443 : 80;
    }
    cfg.host_is_ip = is_ip_literal(cfg.host);
    cfg.path_prefix = prefix;
    return {};
}

namespace {

// The command is returned as written; the caller resolves a relative path.
ApiConfig::ExecPlugin parse_exec(const Node* ex, const std::string& user_name) {
    const std::string where = "kubeconfig: user '" + user_name + "': exec: ";
    if (!ex->is_map()) throw std::runtime_error(where + "must be a mapping");
    ApiConfig::ExecPlugin p;
    p.api_version = scalar_at(ex, "apiVersion");
    if (p.api_version != "client.authentication.k8s.io/v1" && p.api_version != "client.authentication.k8s.io/v1beta1")
        throw std::runtime_error(where + "apiVersion '" + p.api_version +
                                 "' is not client.authentication.k8s.io/v1 or v1beta1");
    p.command = scalar_at(ex, "command");
    if (p.command.empty()) throw std::runtime_error(where + "no command");
    if (scalar_at(ex, "interactiveMode") == "Always")
        throw std::runtime_error(where +
                                 "interactiveMode Always needs a terminal; the agent runs plugins non-interactively");
    if (const Node* a = ex->get("args"); a && !a->is_null()) {
        if (!a->is_seq()) throw std::runtime_error(where + "args must be a list");
        for (const Node& v : a->items) p.args.push_back(v.scalar);
    }
    if (const Node* e = ex->get("env"); e && !e->is_null()) {
        if (!e->is_seq()) throw std::runtime_error(where + "env must be a list");
        for (const Node& v : e->items) {
            const std::string name = scalar_at(&v, "name");
            if (name.empty()) throw std::runtime_error(where + "env entry without a name");
            p.env.push_back(name + "=" + scalar_at(&v, "value"));
        }
    }
    return p;
}

}  // namespace

ApiConfig load_kubeconfig(const std::vector<std::string>& paths, bool explicit_path, const Env& env,
                          const std::string& context) {
    std::vector<std::pair<std::string, Node>> docs;  // kept alive: entries point into them
    docs.reserve(paths.size());
    for (const auto& path : paths) {
        if (!env.is_regular_file(path)) {
            if (explicit_path) throw std::runtime_error("kubeconfig " + path + ": no such file");
            continue;
        }
        auto text = env.read_file(path);
        if (!text) {
            if (explicit_path) throw std::runtime_error("kubeconfig " + path + ": cannot read");
            continue;
        }
        auto parsed = parse_yaml(*text);
        if (!parsed) throw std::runtime_error("kubeconfig " + path + ": " + parsed.error);
        if (!parsed.value->is_map() && !parsed.value->is_null())
            throw std::runtime_error("kubeconfig " + path + ": not a mapping");
        docs.emplace_back(path, std::move(*parsed.value));
    }
    if (docs.empty()) throw std::runtime_error("no kubeconfig file found");

    std::map<std::string, Entry> clusters, users, contexts;
    std::string current;
    std::string current_file;
    for (const auto& file : docs) {
        const std::string& path = file.first;  // not a structured binding: clang 14 cannot capture those
        const Node& doc = file.second;
        const std::string dir = dir_of(path);
        auto collect = [&](const char* list, const char* inner, std::map<std::string, Entry>& into) {
            const Node* seq = doc.get(list);
            if (!seq || !seq->is_seq()) return;
            for (const Node& item : seq->items) {
                const std::string name = scalar_at(&item, "name");
                if (name.empty() || into.count(name)) continue;
                into[name] = Entry{item.get(inner), dir, path};
            }
        };
        if (doc.is_null()) continue;
        collect("clusters", "cluster", clusters);
        collect("users", "user", users);
        collect("contexts", "context", contexts);
        if (current.empty()) {
            current = scalar_at(&doc, "current-context");
            if (!current.empty()) current_file = path;
        }
    }
    std::string files;
    for (const auto& [p, d] : docs) files += (files.empty() ? "" : ":") + p;
    if (!context.empty()) {
        if (!contexts.count(context)) {
            std::string known;
            for (const auto& [name, e] : contexts) known += (known.empty() ? "" : ", ") + name;
            throw UnknownContext("kubeconfig " + files + ": no context '" + context +
                                 "' (defined: " + (known.empty() ? "none" : known) + ")");
        }
        current = context;
    }
    if (current.empty()) throw std::runtime_error("kubeconfig " + files + ": no current-context");
    auto ctx = contexts.find(current);
    if (ctx == contexts.end()) throw std::runtime_error("kubeconfig: current-context '" + current + "' is not defined");
    const std::string cluster_name = scalar_at(ctx->second.body, "cluster");
    const std::string user_name = scalar_at(ctx->second.body, "user");
    auto cl = clusters.find(cluster_name);
    if (cluster_name.empty() || cl == clusters.end())
        throw std::runtime_error("kubeconfig: context '" + current + "' refers to undefined cluster '" + cluster_name +
                                 "'");
    const Entry* user = nullptr;
    if (!user_name.empty()) {
        auto u = users.find(user_name);
        if (u == users.end())
            throw std::runtime_error("kubeconfig: context '" + current + "' refers to undefined user '" + user_name +
                                     "'");
        user = &u->second;
    }

    ApiConfig cfg;
    cfg.source = "kubeconfig " + files + " (context " + current + ")";
    cfg.namespace_ = scalar_at(ctx->second.body, "namespace");

    auto resolve = [&](const std::string& dir, const std::string& p) -> std::string {
        if (p.empty() || p[0] == '/') return p;
        if (p.rfind("~/", 0) == 0) {
            if (auto home = env.getenv("HOME")) return *home + p.substr(1);
        }
        return dir + "/" + p;
    };
    auto read_or_throw = [&](const std::string& what, const std::string& path) {
        auto t = env.read_file(path);
        if (!t) throw std::runtime_error("kubeconfig: cannot read " + what + " " + path);
        return *t;
    };
    auto data_or_throw = [&](const std::string& what, const std::string& b64) {
        auto d = base64_decode(b64);
        if (!d) throw std::runtime_error("kubeconfig: " + what + " is not valid base64");
        return *d;
    };

    const Node* c = cl->second.body;
    const std::string server = scalar_at(c, "server");
    if (server.empty()) throw std::runtime_error("kubeconfig: cluster '" + cluster_name + "' has no server");
    if (auto err = parse_server_url(server, cfg); !err.empty())
        throw std::runtime_error("kubeconfig: cluster '" + cluster_name + "': " + err);
    const std::string ca_file = scalar_at(c, "certificate-authority");
    const std::string ca_data = scalar_at(c, "certificate-authority-data");
    cfg.insecure = truthy(scalar_at(c, "insecure-skip-tls-verify"));
    cfg.server_name = scalar_at(c, "tls-server-name");
    if (!ca_file.empty() && !ca_data.empty())
        throw std::runtime_error("kubeconfig: cluster '" + cluster_name +
                                 "' sets both certificate-authority and certificate-authority-data");
    if (cfg.insecure && (!ca_file.empty() || !ca_data.empty()))
        throw std::runtime_error("kubeconfig: cluster '" + cluster_name +
                                 "': specifying a root certificates file with the insecure flag is not allowed");
    if (!ca_data.empty()) {
        cfg.ca_pem = data_or_throw("certificate-authority-data", ca_data);
        cfg.ca_origin = "certificate-authority-data";
    } else if (!ca_file.empty()) {
        cfg.ca_origin = resolve(cl->second.dir, ca_file);
        cfg.ca_pem = read_or_throw("certificate-authority", cfg.ca_origin);
        cfg.ca_file = cfg.ca_origin;
    }
    if (const std::string proxy_url = scalar_at(c, "proxy-url"); !proxy_url.empty()) {
        ApiConfig::Proxy p;
        if (auto err = parse_proxy_url(proxy_url, p); !err.empty())
            throw std::runtime_error("kubeconfig: cluster '" + cluster_name + "': proxy-url: " + err);
        p.origin = "kubeconfig proxy-url";
        cfg.proxy = std::move(p);
        cfg.proxy_from_kubeconfig = true;
    }

    if (user && user->body && user->body->is_map()) {
        const Node* u = user->body;
        for (const char* unsupported : {"auth-provider", "username", "password", "as", "as-groups"}) {
            if (const Node* n = u->get(unsupported); n && !n->is_null())
                throw std::runtime_error("kubeconfig: user '" + user_name + "': '" + unsupported +
                                         "' is not supported");
        }
        const std::string cert_file = scalar_at(u, "client-certificate");
        const std::string cert_data = scalar_at(u, "client-certificate-data");
        const std::string key_file = scalar_at(u, "client-key");
        const std::string key_data = scalar_at(u, "client-key-data");
        if (!cert_file.empty() && !cert_data.empty())
            throw std::runtime_error("kubeconfig: user '" + user_name +
                                     "' sets both client-certificate and client-certificate-data");
        if (!key_file.empty() && !key_data.empty())
            throw std::runtime_error("kubeconfig: user '" + user_name + "' sets both client-key and client-key-data");
        const bool has_cert = !cert_file.empty() || !cert_data.empty();
        const bool has_key = !key_file.empty() || !key_data.empty();
        if (has_cert != has_key)
            throw std::runtime_error("kubeconfig: user '" + user_name +
                                     "': a client certificate needs a client key and vice versa");
        if (!cert_data.empty()) cfg.client_cert_pem = data_or_throw("client-certificate-data", cert_data);
        if (!cert_file.empty()) {
            cfg.client_cert_file = resolve(user->dir, cert_file);
            cfg.client_cert_pem = read_or_throw("client-certificate", cfg.client_cert_file);
        }
        if (!key_data.empty()) cfg.client_key_pem = data_or_throw("client-key-data", key_data);
        if (!key_file.empty()) {
            cfg.client_key_file = resolve(user->dir, key_file);
            cfg.client_key_pem = read_or_throw("client-key", cfg.client_key_file);
        }
        cfg.token = scalar_at(u, "token");
        if (const Node* ex = u->get("exec"); ex && !ex->is_null()) {
            cfg.exec = parse_exec(ex, user_name);
            // client-go: a relative path with a separator is relative to the kubeconfig.
            if (cfg.exec->command.find('/') != std::string::npos)
                cfg.exec->command = resolve(user->dir, cfg.exec->command);
        }
        const std::string token_file = scalar_at(u, "tokenFile");
        if (!token_file.empty()) {
            cfg.token_file = resolve(user->dir, token_file);
            if (cfg.token.empty() && !env.read_file(cfg.token_file))
                throw std::runtime_error("kubeconfig: user '" + user_name + "': cannot read tokenFile " +
                                         cfg.token_file);
        }
    }
    if (cfg.exec && (!cfg.token.empty() || !cfg.token_file.empty()))
        throw std::runtime_error("kubeconfig: user '" + user_name + "' sets both exec and token/tokenFile");
    if (!cfg.tls && (cfg.exec || !cfg.token.empty() || !cfg.token_file.empty() || !cfg.client_cert_pem.empty()))
        throw std::runtime_error("kubeconfig: credentials are only sent to https servers (server " + server + ")");
    return cfg;
}

std::optional<ApiConfig> load_in_cluster(const Env& env) {
    const auto host = env.getenv("KUBERNETES_SERVICE_HOST");
    const auto port = env.getenv("KUBERNETES_SERVICE_PORT");
    const std::string token_path = env.service_account_dir + "/token";
    if (!host || host->empty() || !port || port->empty() || !env.is_regular_file(token_path)) return std::nullopt;
    ApiConfig cfg;
    cfg.source = "in-cluster";
    const bool v6 = host->find(':') != std::string::npos;
    if (auto err = parse_server_url("https://" + (v6 ? "[" + *host + "]" : *host) + ":" + *port, cfg); !err.empty())
        throw std::runtime_error("in-cluster configuration: " + err);
    cfg.ca_origin = env.service_account_dir + "/ca.crt";
    auto ca = env.read_file(cfg.ca_origin);
    if (!ca || ca->empty()) throw std::runtime_error("in-cluster configuration: cannot read " + cfg.ca_origin);
    cfg.ca_pem = *ca;
    cfg.ca_file = cfg.ca_origin;
    cfg.token_file = token_path;
    if (auto pod_ns = env.getenv("POD_NAMESPACE"); pod_ns && !pod_ns->empty()) {
        cfg.namespace_ = *pod_ns;
    } else if (auto ns = env.read_file(env.service_account_dir + "/namespace")) {
        cfg.namespace_ = trim_ws(*ns);
    }
    if (cfg.namespace_.empty()) cfg.namespace_ = "default";
    return cfg;
}

namespace {

ApiConfig load_api_config_only(const std::string& explicit_kubeconfig, const Env& env, const std::string& context) {
    if (!explicit_kubeconfig.empty()) return load_kubeconfig(split_list(explicit_kubeconfig), true, env, context);
    if (context.empty()) {
        if (auto in = load_in_cluster(env)) return *in;
    }
    if (auto list = env.getenv("KUBECONFIG"); list && !list->empty()) {
        auto paths = split_list(*list);
        bool any = false;
        for (const auto& p : paths) any = any || env.is_regular_file(p);
        if (any) return load_kubeconfig(paths, false, env, context);
    }
    if (auto home = env.getenv("HOME"); home && !home->empty()) {
        const std::string path = *home + "/.kube/config";
        if (env.is_regular_file(path)) return load_kubeconfig({path}, false, env, context);
    }
    if (!context.empty())
        throw UnknownContext("no kubeconfig ($KUBECONFIG, ~/.kube/config) to select the context '" + context +
                             "' from");
    throw std::runtime_error(
        "no Kubernetes API configuration: not running in a cluster (KUBERNETES_SERVICE_HOST/PORT and the "
        "service-account token are absent) and no kubeconfig ($KUBECONFIG, ~/.kube/config)");
}

}  // namespace

ApiConfig load_api_config(const std::string& explicit_kubeconfig, const Env& env, const std::string& context) {
    ApiConfig cfg = load_api_config_only(explicit_kubeconfig, env, context);
    if (!cfg.proxy_from_kubeconfig) {
        if (auto err = apply_proxy_env(cfg, env); !err.empty()) throw std::runtime_error(err);
    }
    return cfg;
}

std::string resolve_namespace(const std::string& override_ns, const Env& env) {
    if (!override_ns.empty()) return override_ns;
    if (auto ns = env.read_file(env.service_account_dir + "/namespace")) {
        std::string t = trim_ws(*ns);
        if (!t.empty()) return t;
    }
    return "metallb-system";
}

TokenSource::TokenSource(std::string static_token, std::string file)
    : token_(std::move(static_token)), file_(std::move(file)) {
    register_secret(token_);
}

TokenSource::TokenSource(ApiConfig::ExecPlugin plugin, EventLoop* loop) : exec_(std::move(plugin)), loop_(loop) {}

TokenSource::~TokenSource() {
    if (timer_ && loop_) loop_->cancel(timer_);
    child_.reset();  // kills a running plugin
}

std::chrono::seconds TokenSource::refresh_after(std::chrono::seconds lifetime) {
    using std::chrono::seconds;
    if (lifetime <= seconds(0)) return seconds(0);
    seconds margin = std::clamp<seconds>(lifetime / 10, seconds(10), seconds(300));
    margin = std::min(margin, lifetime / 2);
    return lifetime - margin;
}

bool TokenSource::plugin_due() const {
    if (token_.empty() || force_) return true;
    if (loop_) return Clock::now() >= refresh_at_;
    return expiry_ && std::time(nullptr) + 10 >= *expiry_;  // 10 s leeway
}

void TokenSource::when_ready(std::function<void()> cb) {
    if (!exec_ || !loop_ || !token_.empty()) return cb();
    if (!child_ && Clock::now() >= next_plugin_run_) start_plugin();
    if (!child_) return cb();  // backing off after a failure: go without a token
    waiters_.push_back(std::move(cb));
}

void TokenSource::schedule(std::chrono::milliseconds d) {
    if (!loop_) return;
    if (timer_) loop_->cancel(timer_);
    timer_ = loop_->after(d, [this] {
        timer_ = 0;
        if (!child_) start_plugin();
    });
}

const std::string& TokenSource::get() {
    if (exec_) {
        if (plugin_due() && !child_ && Clock::now() >= next_plugin_run_) {
            if (loop_)
                start_plugin();
            else
                run_plugin();
        }
        return token_;
    }
    if (file_.empty()) return token_;
    struct stat st {};
    const bool have = ::stat(file_.c_str(), &st) == 0;
    const bool changed = have && (st.st_mtim.tv_sec != mtime_.tv_sec || st.st_mtim.tv_nsec != mtime_.tv_nsec);
    if (force_ || changed || Clock::now() - last_read_ >= refresh_) reload();
    return token_;
}

void TokenSource::reload() {
    last_read_ = Clock::now();
    auto text = read_whole_file(file_);
    if (!text) return;  // keep the previous token; retried at the next request
    std::string t = trim_ws(*text.value);
    if (t.empty()) return;  // being rewritten: keep the previous token
    struct stat st {};
    if (::stat(file_.c_str(), &st) == 0) mtime_ = st.st_mtim;
    token_ = std::move(t);
    register_secret(token_);
    force_ = false;
}

namespace {

ChildSpec plugin_spec(const ApiConfig::ExecPlugin& p) {
    ChildSpec spec;
    spec.argv = {p.command};
    spec.argv.insert(spec.argv.end(), p.args.begin(), p.args.end());
    spec.extra_env = p.env;
    spec.extra_env.push_back("KUBERNETES_EXEC_INFO={\"apiVersion\":\"" + p.api_version +
                             "\",\"kind\":\"ExecCredential\",\"spec\":{\"interactive\":false}}");
    spec.timeout = TokenSource::kPluginTimeout;
    spec.max_output = 1024 * 1024;  // an ExecCredential is small; more is garbage
    return spec;
}

}  // namespace

void TokenSource::run_plugin() {
    const ChildSpec spec = plugin_spec(*exec_);
    plugin_result(run_command(spec.argv, spec.extra_env, spec.timeout));
}

void TokenSource::start_plugin() {
    if (child_) return;
    if (timer_) loop_->cancel(timer_);
    timer_ = 0;
    force_ = false;  // a 401 during the run asks again
    child_ = ChildProcess::start(*loop_, plugin_spec(*exec_), [this](ScriptResult r) {
        auto keep = std::move(child_);  // destroyed when this returns
        plugin_result(r);
        auto waiters = std::move(waiters_);
        waiters_.clear();
        for (auto& w : waiters) w();
    });
}

void TokenSource::plugin_result(const ScriptResult& r) {
    std::string token;
    std::optional<std::time_t> expiry;
    std::string error;
    if (!r.started)
        error = r.error;
    else if (r.timed_out)
        error = "timed out after " + std::to_string(kPluginTimeout.count()) + " s and was killed";
    else if (r.signal != 0)
        error = "killed by signal " + std::to_string(r.signal);
    else if (r.exit_code != 0)
        error = "exited with status " + std::to_string(r.exit_code) + ": " + trim_ws(r.err);
    else if (r.out_dropped > 0)
        error = "output larger than " + std::to_string(r.out.size()) + " bytes";
    else
        error = parse_exec_credential(r.out, token, expiry);
    register_secret(token);  // before anything from the plugin is logged
    if (!error.empty()) {
        // Keep the previous token; try again after a growing pause, not on every request.
        backoff_ = std::clamp<std::chrono::seconds>(backoff_ * 2, std::chrono::seconds(1), std::chrono::seconds(60));
        if (!loop_) backoff_ = std::chrono::seconds(5);
        klog::warn("kube: exec credential plugin failed; keeping the previous token",
                   {{"command", exec_->command},
                    {"error", error},
                    {"have_token", !token_.empty()},
                    {"retry_in_s", static_cast<long long>(backoff_.count())}});
        next_plugin_run_ = Clock::now() + backoff_;
        schedule(backoff_);
        return;
    }
    backoff_ = std::chrono::seconds(0);
    token_ = std::move(token);
    expiry_ = expiry;
    refresh_at_ = Clock::time_point::max();
    if (expiry) {
        const auto lifetime =
            std::chrono::seconds(std::max<long long>(0, static_cast<long long>(*expiry - std::time(nullptr))));
        const auto after = std::max<std::chrono::seconds>(refresh_after(lifetime), std::chrono::seconds(1));
        refresh_at_ = Clock::now() + after;
        schedule(after);
    }
    klog::verbose("kube: exec credential plugin issued a token",
                  {{"command", exec_->command}, {"expires", expiry ? std::to_string(*expiry) : std::string("never")}});
}

std::string parse_exec_credential(std::string_view json, std::string& token, std::optional<std::time_t>& expiry) {
    simdjson::dom::parser parser;
    simdjson::padded_string padded(json);
    simdjson::dom::element doc;
    if (parser.parse(padded).get(doc)) return "output is not JSON";
    std::string_view kind;
    if (doc["kind"].get(kind) || kind != "ExecCredential") return "output is not an ExecCredential";
    std::string_view t;
    if (doc["status"]["token"].get(t) || t.empty())
        return "ExecCredential has no status.token (client certificates from plugins are not supported)";
    token = std::string(t);
    expiry.reset();
    std::string_view ts;
    if (!doc["status"]["expirationTimestamp"].get(ts)) {
        std::tm tm{};
        const std::string text(ts);
        // The value is not quoted: it is the plugin's output and may hold the token.
        if (!strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm))
            return "invalid status.expirationTimestamp (not an RFC 3339 time)";
        expiry = timegm(&tm);
    }
    return "";
}

}  // namespace nra::kube
