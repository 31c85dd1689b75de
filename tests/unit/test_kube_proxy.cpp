// Proxy selection (Go's httpproxy rules), proxy URLs, CONNECT framing,
// kubeconfig contexts and the User-Agent.
#include <catch2/catch.hpp>

#include <map>
#include <stdexcept>

#include "nra/kube/client.hpp"
#include "nra/kube/config.hpp"
#include "nra/kube/proxy.hpp"
#include "nra/kube/redact.hpp"

using namespace nra::kube;

namespace {

struct FakeEnv {
    std::map<std::string, std::string> files;
    std::map<std::string, std::string> vars;
    Env env() const {
        Env e;
        e.getenv = [this](const std::string& k) -> std::optional<std::string> {
            auto it = vars.find(k);
            if (it == vars.end()) return std::nullopt;
            return it->second;
        };
        e.read_file = [this](const std::string& p) -> std::optional<std::string> {
            auto it = files.find(p);
            if (it == files.end()) return std::nullopt;
            return it->second;
        };
        e.is_regular_file = [this](const std::string& p) { return files.count(p) > 0; };
        e.service_account_dir = "/sa";
        return e;
    }
};

const char* kTwoContexts = R"(apiVersion: v1
kind: Config
current-context: a
clusters:
- name: ca
  cluster:
    server: https://a.example:6443
- name: cb
  cluster:
    server: https://b.example:6443
    proxy-url: http://proxy.example:3128
users:
- name: u
  user: {}
contexts:
- name: a
  context: {cluster: ca, user: u}
- name: b
  context: {cluster: cb, user: u, namespace: nsb}
)";

}  // namespace

TEST_CASE("proxy URLs: Go's forms, default port, credentials redacted, unsupported schemes refused") {
    ApiConfig::Proxy p;
    CHECK(parse_proxy_url("http://proxy.corp:3128", p).empty());
    CHECK(p.host == "proxy.corp");
    CHECK(p.port == 3128);
    CHECK(p.authorization.empty());
    CHECK(p.display == "http://proxy.corp:3128");

    CHECK(parse_proxy_url("proxy.corp", p).empty());  // host alone: http, port 80
    CHECK(p.host == "proxy.corp");
    CHECK(p.port == 80);
    CHECK(parse_proxy_url("10.0.0.1:8080/", p).empty());
    CHECK(p.host == "10.0.0.1");
    CHECK(p.port == 8080);
    CHECK(parse_proxy_url("http://[fd00::5]:3128", p).empty());
    CHECK(p.host == "fd00::5");
    CHECK(p.display == "http://[fd00::5]:3128");

    CHECK(parse_proxy_url("http://us%40er:p%3Ass@proxy:3128", p).empty());
    CHECK(p.authorization == "Basic dXNAZXI6cDpzcw==");  // base64("us@er:p:ss")
    CHECK(p.display == "http://us@er:***@proxy:3128");
    CHECK(redact("Proxy-Authorization: Basic dXNAZXI6cDpzcw==").find("dXNAZXI6cDpzcw==") == std::string::npos);

    CHECK_THAT(parse_proxy_url("https://proxy:443", p), Catch::Contains("https:// proxies are not supported"));
    CHECK_THAT(parse_proxy_url("socks5://proxy:1080", p), Catch::Contains("SOCKS"));
    CHECK_THAT(parse_proxy_url("ftp://proxy", p), Catch::Contains("unsupported proxy scheme 'ftp'"));
    CHECK_THAT(parse_proxy_url("http://proxy:0", p), Catch::Contains("1..65535"));
    CHECK_THAT(parse_proxy_url("http://proxy:99999", p), Catch::Contains("1..65535"));
    CHECK_THAT(parse_proxy_url("http://:3128", p), Catch::Contains("without a host"));
    CHECK_THAT(parse_proxy_url("", p), Catch::Contains("empty"));
    CHECK_THAT(parse_proxy_url("http://u:%zz@proxy", p), Catch::Contains("percent-encoding"));
}

TEST_CASE("NO_PROXY: Go's matching rules") {
    // loopback and localhost never go through a proxy
    CHECK_FALSE(use_proxy("", "localhost", 443));
    CHECK_FALSE(use_proxy("", "127.0.0.5", 443));
    CHECK_FALSE(use_proxy("", "::1", 443));
    CHECK(use_proxy("", "10.0.0.1", 443));
    CHECK(use_proxy("", "api.example.com", 443));
    // *
    CHECK_FALSE(use_proxy("*", "api.example.com", 443));
    CHECK_FALSE(use_proxy("foo, *", "10.0.0.1", 443));
    // IPs and CIDRs
    CHECK_FALSE(use_proxy("10.96.0.1", "10.96.0.1", 443));
    CHECK(use_proxy("10.96.0.1", "10.96.0.2", 443));
    CHECK_FALSE(use_proxy("10.96.0.0/12", "10.100.0.1", 443));
    CHECK(use_proxy("10.96.0.0/12", "10.112.0.1", 443));
    CHECK_FALSE(use_proxy("fd00::/8", "fd00::1", 6443));
    CHECK(use_proxy("fd00::/8", "fe80::1", 6443));
    CHECK(use_proxy("10.0.0.0/8", "api.example.com", 443));  // CIDRs match IPs only
    CHECK_FALSE(use_proxy("10.96.0.1:443", "10.96.0.1", 443));
    CHECK(use_proxy("10.96.0.1:6443", "10.96.0.1", 443));
    CHECK_FALSE(use_proxy("[fd00::1]:443", "fd00::1", 443));
    // domains
    CHECK_FALSE(use_proxy("example.com", "example.com", 443));
    CHECK_FALSE(use_proxy("example.com", "api.example.com", 443));
    CHECK(use_proxy("example.com", "badexample.com", 443));
    CHECK(use_proxy(".example.com", "example.com", 443));
    CHECK_FALSE(use_proxy(".example.com", "api.example.com", 443));
    CHECK(use_proxy("*.example.com", "example.com", 443));
    CHECK_FALSE(use_proxy("*.example.com", "api.example.com", 443));
    CHECK_FALSE(use_proxy(" Example.COM:6443 ", "API.example.com", 6443));
    CHECK(use_proxy("example.com:6443", "api.example.com", 443));
    CHECK_FALSE(use_proxy("svc,.cluster.local", "kubernetes.default.svc", 443));
    // malformed entries are ignored
    CHECK(use_proxy(":443,,  ,", "10.0.0.1", 443));
}

TEST_CASE("proxy from the environment: variable per scheme, upper case first, NO_PROXY, errors") {
    FakeEnv fs;
    ApiConfig cfg;
    REQUIRE(parse_server_url("https://10.96.0.1:443", cfg).empty());

    ApiConfig c = cfg;
    CHECK(apply_proxy_env(c, fs.env()).empty());
    CHECK_FALSE(c.proxy);

    fs.vars = {{"https_proxy", "http://lower:1"}, {"HTTPS_PROXY", "http://upper:2"}, {"HTTP_PROXY", "http://plain:3"}};
    c = cfg;
    CHECK(apply_proxy_env(c, fs.env()).empty());
    REQUIRE(c.proxy);
    CHECK(c.proxy->host == "upper");
    CHECK(c.proxy->origin == "HTTPS_PROXY");

    fs.vars["HTTPS_PROXY"] = "";  // empty = unset: the lower-case one
    c = cfg;
    CHECK(apply_proxy_env(c, fs.env()).empty());
    REQUIRE(c.proxy);
    CHECK(c.proxy->host == "lower");

    fs.vars["no_proxy"] = "10.96.0.0/12";
    c = cfg;
    CHECK(apply_proxy_env(c, fs.env()).empty());
    CHECK_FALSE(c.proxy);
    fs.vars["NO_PROXY"] = "other";  // upper case wins
    c = cfg;
    CHECK(apply_proxy_env(c, fs.env()).empty());
    CHECK(c.proxy);

    ApiConfig plain;
    REQUIRE(parse_server_url("http://10.0.0.9:8080", plain).empty());
    CHECK(apply_proxy_env(plain, fs.env()).empty());
    REQUIRE(plain.proxy);
    CHECK(plain.proxy->host == "plain");

    fs.vars = {{"HTTPS_PROXY", "https://user:hunter2@p:443"}};
    c = cfg;
    const auto err = apply_proxy_env(c, fs.env());
    CHECK_THAT(err, Catch::Contains("HTTPS_PROXY") && Catch::Contains("not supported"));
    CHECK(err.find("hunter2") == std::string::npos);
}

TEST_CASE("load_api_config: kubeconfig proxy-url wins over the environment; in-cluster honours the environment") {
    FakeEnv fs;
    fs.files["/kc"] = kTwoContexts;
    fs.vars = {{"HTTPS_PROXY", "http://envproxy:8080"}, {"NO_PROXY", "b.example"}};
    auto a = load_api_config("/kc", fs.env());
    REQUIRE(a.proxy);
    CHECK(a.proxy->host == "envproxy");
    auto b = load_api_config("/kc", fs.env(), "b");
    REQUIRE(b.proxy);  // NO_PROXY does not apply to proxy-url
    CHECK(b.proxy->host == "proxy.example");
    CHECK(b.proxy->origin == "kubeconfig proxy-url");

    fs.files["/bad"] = std::string(kTwoContexts).replace(std::string(kTwoContexts).find("http://proxy"), 4, "socks5");
    CHECK_THROWS_WITH(load_api_config("/bad", fs.env(), "b"),
                      Catch::Contains("cluster 'cb': proxy-url") && Catch::Contains("SOCKS"));

    fs.files["/sa/token"] = "t";
    fs.files["/sa/ca.crt"] = "CA";
    fs.vars["KUBERNETES_SERVICE_HOST"] = "10.96.0.1";
    fs.vars["KUBERNETES_SERVICE_PORT"] = "443";
    auto in = load_api_config("", fs.env());
    CHECK(in.source == "in-cluster");
    REQUIRE(in.proxy);
    fs.vars["NO_PROXY"] = "10.96.0.1";
    CHECK_FALSE(load_api_config("", fs.env()).proxy);
    fs.vars["HTTPS_PROXY"] = "socks5://x";
    fs.vars.erase("NO_PROXY");
    CHECK_THROWS_WITH(load_api_config("", fs.env()), Catch::Contains("HTTPS_PROXY: SOCKS"));
}

TEST_CASE("kubeconfig --context: selects a context, unknown ones are a usage error, in-cluster skipped") {
    FakeEnv fs;
    fs.files["/kc"] = kTwoContexts;
    CHECK(load_api_config("/kc", fs.env()).host == "a.example");
    auto b = load_api_config("/kc", fs.env(), "b");
    CHECK(b.host == "b.example");
    CHECK(b.namespace_ == "nsb");
    CHECK_THAT(b.source, Catch::Contains("(context b)"));
    CHECK_THROWS_AS(load_api_config("/kc", fs.env(), "nope"), UnknownContext);
    CHECK_THROWS_WITH(load_api_config("/kc", fs.env(), "nope"),
                      Catch::Contains("no context 'nope'") && Catch::Contains("defined: a, b"));

    // With a context the in-cluster configuration is not used.
    fs.files["/sa/token"] = "t";
    fs.files["/sa/ca.crt"] = "CA";
    fs.vars = {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}, {"KUBECONFIG", "/kc"}};
    CHECK(load_api_config("", fs.env()).source == "in-cluster");
    CHECK(load_api_config("", fs.env(), "b").host == "b.example");
    fs.vars.erase("KUBECONFIG");
    CHECK_THROWS_AS(load_api_config("", fs.env(), "b"), UnknownContext);
}

TEST_CASE("CONNECT request and reply status line") {
    ApiConfig cfg;
    REQUIRE(parse_server_url("https://[fd00::1]:6443", cfg).empty());
    CHECK(build_connect(cfg, "ua/1") ==
          "CONNECT [fd00::1]:6443 HTTP/1.1\r\nHost: [fd00::1]:6443\r\nUser-Agent: ua/1\r\n\r\n");
    cfg.proxy = ApiConfig::Proxy{};
    REQUIRE(parse_proxy_url("http://u:p@proxy:3128", *cfg.proxy).empty());
    REQUIRE(parse_server_url("https://api.example:443", cfg).empty());
    CHECK(build_connect(cfg, "ua") ==
          "CONNECT api.example:443 HTTP/1.1\r\nHost: api.example:443\r\nUser-Agent: ua\r\n"
          "Proxy-Authorization: Basic dTpw\r\n\r\n");

    std::string reason;
    CHECK(parse_connect_status("HTTP/1.1 200 Connection established\r\n\r\n", reason) == 200);
    CHECK(reason == "Connection established");
    CHECK(parse_connect_status("HTTP/1.0 407 Proxy Authentication Required\r\nX: y\r\n\r\n", reason) == 407);
    CHECK(reason == "Proxy Authentication Required");
    CHECK(parse_connect_status("HTTP/1.1 200\r\n\r\n", reason) == 200);
    CHECK(parse_connect_status("SSH-2.0-OpenSSH\r\n\r\n", reason) == 0);
    CHECK(parse_connect_status("HTTP/1.1 2000 x\r\n\r\n", reason) == 0);
    CHECK(parse_connect_status("HTTP/1.1 abc x\r\n\r\n", reason) == 0);
}

TEST_CASE("User-Agent: metallb-nra/<version> (linux/<arch>)") {
    const std::string ua = ApiClient::default_user_agent();
    CHECK(ua.rfind(std::string("metallb-nra/") + NRA_VERSION + " (linux/", 0) == 0);
    CHECK(ua.back() == ')');
    CHECK(ua.find("unknown") == std::string::npos);
}
