#include <catch2/catch.hpp>

#include <map>
#include <stdexcept>

#include "nra/kube/config.hpp"

using namespace nra::kube;

namespace {

// An in-memory filesystem and environment.
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

std::string kubeconfig(const std::string& server, const std::string& cluster_extra, const std::string& user_extra,
                       const std::string& name = "c") {
    return "apiVersion: v1\nkind: Config\ncurrent-context: " + name + "\nclusters:\n- name: " + name +
           "\n  cluster:\n    server: " + server + "\n" + cluster_extra + "users:\n- name: " + name + "\n  user:\n" +
           (user_extra.empty() ? "    {}\n" : user_extra) + "contexts:\n- name: " + name +
           "\n  context:\n    cluster: " + name + "\n    user: " + name + "\n    namespace: ns-" + name + "\n";
}

}  // namespace

TEST_CASE("server URLs") {
    ApiConfig c;
    CHECK(parse_server_url("https://10.0.0.1:6443", c).empty());
    CHECK(c.host == "10.0.0.1");
    CHECK(c.port == 6443);
    CHECK(c.host_is_ip);
    CHECK(c.path_prefix.empty());
    CHECK(c.host_header() == "10.0.0.1:6443");

    CHECK(parse_server_url("https://[fd00::1]/k8s/clusters/c-1/", c).empty());
    CHECK(c.host == "fd00::1");
    CHECK(c.port == 443);
    CHECK(c.host_is_ip);
    CHECK(c.path_prefix == "/k8s/clusters/c-1");
    CHECK(c.host_header() == "[fd00::1]");

    CHECK(parse_server_url("https://api.example.com:8443", c).empty());
    CHECK_FALSE(c.host_is_ip);
    CHECK(parse_server_url("http://localhost:8001", c).empty());
    CHECK_FALSE(c.tls);

    CHECK_FALSE(parse_server_url("ftp://x", c).empty());
    CHECK_FALSE(parse_server_url("https://:443", c).empty());
    CHECK_FALSE(parse_server_url("https://h:99999", c).empty());
    CHECK_FALSE(parse_server_url("https://[::1", c).empty());
}

TEST_CASE("kubeconfig: CA file relative to the kubeconfig, token, client cert data, namespace") {
    FakeEnv fs;
    fs.files["/home/u/.kube/ca.pem"] = "CA";
    fs.files["/home/u/.kube/config"] = kubeconfig("https://1.2.3.4:6443", "    certificate-authority: ca.pem\n",
                                                  "    token: secret\n    client-certificate-data: Q0VSVA==\n"
                                                  "    client-key-data: S0VZ\n");
    fs.vars["HOME"] = "/home/u";
    auto c = load_api_config("", fs.env());
    CHECK(c.ca_pem == "CA");
    CHECK(c.ca_origin == "/home/u/.kube/ca.pem");
    CHECK(c.token == "secret");
    CHECK(c.client_cert_pem == "CERT");
    CHECK(c.client_key_pem == "KEY");
    CHECK(c.namespace_ == "ns-c");
    CHECK(c.host == "1.2.3.4");
    CHECK(c.source.find("/home/u/.kube/config") != std::string::npos);
    CHECK(c.source.find("secret") == std::string::npos);
}

TEST_CASE("kubeconfig: validation errors") {
    FakeEnv fs;
    fs.files["/k"] =
        kubeconfig("https://h", "    certificate-authority-data: QQ==\n    insecure-skip-tls-verify: true\n", "");
    CHECK_THROWS_WITH(load_api_config("/k", fs.env()), Catch::Contains("insecure"));

    fs.files["/k"] =
        kubeconfig("https://h", "    certificate-authority-data: QQ==\n    certificate-authority: /ca\n", "");
    CHECK_THROWS_WITH(load_api_config("/k", fs.env()), Catch::Contains("both"));

    fs.files["/k"] = kubeconfig("https://h", "", "    client-certificate-data: QQ==\n");
    CHECK_THROWS_WITH(load_api_config("/k", fs.env()), Catch::Contains("client key"));

    fs.files["/k"] = kubeconfig("https://h", "", "    tokenFile: /missing\n");
    CHECK_THROWS_WITH(load_api_config("/k", fs.env()), Catch::Contains("tokenFile"));

    fs.files["/k"] = kubeconfig("https://h", "", "    auth-provider:\n      name: gcp\n");
    CHECK_THROWS_WITH(load_api_config("/k", fs.env()), Catch::Contains("not supported"));

    fs.files["/k"] = kubeconfig("https://h", "", "    exec:\n      command: x\n");
    CHECK_THROWS_WITH(load_api_config("/k", fs.env()), Catch::Contains("apiVersion"));

    fs.files["/k"] = "current-context: nope\ncontexts: []\n";
    CHECK_THROWS_WITH(load_api_config("/k", fs.env()), Catch::Contains("nope"));

    fs.files["/k"] = "clusters: [\n";
    CHECK_THROWS_WITH(load_api_config("/k", fs.env()), Catch::Contains("line"));

    CHECK_THROWS_WITH(load_api_config("/absent", fs.env()), Catch::Contains("no such file"));

    fs.files["/k"] = kubeconfig("http://h:8001", "", "    token: t\n");
    CHECK_THROWS_WITH(load_api_config("/k", fs.env()), Catch::Contains("https"));
}

TEST_CASE("kubeconfig: insecure, tls-server-name, tokenFile relative") {
    FakeEnv fs;
    fs.files["/etc/kc/config"] =
        kubeconfig("https://10.1.1.1", "    insecure-skip-tls-verify: true\n    tls-server-name: api.internal\n",
                   "    tokenFile: tok\n");
    fs.files["/etc/kc/tok"] = "T\n";
    auto c = load_api_config("/etc/kc/config", fs.env());
    CHECK(c.insecure);
    CHECK(c.server_name == "api.internal");
    CHECK(c.token_file == "/etc/kc/tok");
    CHECK(c.token.empty());
}

TEST_CASE("KUBECONFIG list: missing files skipped, first definition wins, first current-context wins") {
    FakeEnv fs;
    fs.files["/a"] = "current-context: second\nclusters:\n- name: second\n  cluster:\n    server: https://from-a\n";
    fs.files["/b"] = kubeconfig("https://from-b", "", "    token: tb\n", "second");
    fs.vars["KUBECONFIG"] = "/missing:/a:/b:/a";
    auto c = load_api_config("", fs.env());
    CHECK(c.host == "from-a");  // cluster "second" defined first in /a
    CHECK(c.token == "tb");     // user from /b
    CHECK(c.namespace_ == "ns-second");
}

TEST_CASE("precedence: explicit > in-cluster > $KUBECONFIG > ~/.kube/config") {
    FakeEnv fs;
    fs.files["/explicit"] = kubeconfig("https://explicit", "", "");
    fs.files["/env"] = kubeconfig("https://env", "", "");
    fs.files["/home/u/.kube/config"] = kubeconfig("https://home", "", "");
    fs.files["/sa/token"] = "satoken\n";
    fs.files["/sa/ca.crt"] = "SACA";
    fs.files["/sa/namespace"] = "metallb\n";
    fs.vars = {{"HOME", "/home/u"},
               {"KUBECONFIG", "/env"},
               {"KUBERNETES_SERVICE_HOST", "fd00::1"},
               {"KUBERNETES_SERVICE_PORT", "443"}};

    CHECK(load_api_config("/explicit", fs.env()).host == "explicit");

    auto in = load_api_config("", fs.env());
    CHECK(in.source == "in-cluster");
    CHECK(in.host == "fd00::1");
    CHECK(in.host_is_ip);
    CHECK(in.ca_pem == "SACA");
    CHECK(in.token_file == "/sa/token");
    CHECK(in.namespace_ == "metallb");

    fs.vars.erase("KUBERNETES_SERVICE_PORT");
    CHECK(load_api_config("", fs.env()).host == "env");
    fs.vars.erase("KUBECONFIG");
    CHECK(load_api_config("", fs.env()).host == "home");
    fs.vars["KUBECONFIG"] = "/nothing-here";
    CHECK(load_api_config("", fs.env()).host == "home");
    fs.files.erase("/home/u/.kube/config");
    CHECK_THROWS_WITH(load_api_config("", fs.env()), Catch::Contains("no Kubernetes API configuration"));

    // In-cluster needs the token file too.
    fs.vars["KUBERNETES_SERVICE_PORT"] = "443";
    fs.files.erase("/sa/token");
    CHECK_THROWS(load_api_config("", fs.env()));
}

TEST_CASE("MetalLB namespace: override, service-account file, metallb-system") {
    FakeEnv fs;
    CHECK(resolve_namespace("x", fs.env()) == "x");
    CHECK(resolve_namespace("", fs.env()) == "metallb-system");
    fs.files["/sa/namespace"] = " lb \n";
    CHECK(resolve_namespace("", fs.env()) == "lb");
}

TEST_CASE("kubeconfig: exec credential plugins") {
    FakeEnv fs;
    const std::string exec =
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: bin/get-token\n"
        "      args: [--cluster, c1]\n      env:\n      - {name: REGION, value: eu}\n      interactiveMode: Never\n";
    fs.files["/etc/kc/config"] = kubeconfig("https://10.1.1.1", "    insecure-skip-tls-verify: true\n", exec);
    auto c = load_api_config("/etc/kc/config", fs.env());
    REQUIRE(c.exec);
    CHECK(c.exec->command == "/etc/kc/bin/get-token");
    CHECK(c.exec->args == std::vector<std::string>{"--cluster", "c1"});
    CHECK(c.exec->env == std::vector<std::string>{"REGION=eu"});
    CHECK(c.exec->api_version == "client.authentication.k8s.io/v1");

    fs.files["/k"] = kubeconfig(
        "https://h", "", "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: aws\n");
    CHECK(load_api_config("/k", fs.env()).exec->command == "aws");  // bare names are looked up in PATH

    fs.files["/k"] =
        kubeconfig("https://h", "",
                   "    token: t\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: x\n");
    CHECK_THROWS_WITH(load_api_config("/k", fs.env()), Catch::Contains("both exec"));
    fs.files["/k"] = kubeconfig("https://h", "",
                                "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: x\n      "
                                "interactiveMode: Always\n");
    CHECK_THROWS_WITH(load_api_config("/k", fs.env()), Catch::Contains("interactive"));
    fs.files["/k"] = kubeconfig(
        "https://h", "", "    exec:\n      apiVersion: client.authentication.k8s.io/v1alpha1\n      command: x\n");
    CHECK_THROWS_WITH(load_api_config("/k", fs.env()), Catch::Contains("v1alpha1"));
}

TEST_CASE("ExecCredential output") {
    std::string token;
    std::optional<std::time_t> expiry;
    CHECK(parse_exec_credential(R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",
        "status":{"token":"abc","expirationTimestamp":"2026-11-26T15:00:00Z"}})",
                                token, expiry) == "");
    CHECK(token == "abc");
    REQUIRE(expiry);
    CHECK(*expiry == 1795705200);
    CHECK(parse_exec_credential(R"({"kind":"ExecCredential","status":{"token":"t2"}})", token, expiry) == "");
    CHECK(token == "t2");
    CHECK_FALSE(expiry);
    CHECK(parse_exec_credential("not json", token, expiry).find("not JSON") != std::string::npos);
    CHECK(parse_exec_credential(R"({"kind":"Other"})", token, expiry).find("ExecCredential") != std::string::npos);
    CHECK(parse_exec_credential(R"({"kind":"ExecCredential","status":{"clientCertificateData":"x"}})", token, expiry)
              .find("status.token") != std::string::npos);
    CHECK(parse_exec_credential(R"({"kind":"ExecCredential","status":{"token":"t","expirationTimestamp":"soon"}})",
                                token, expiry)
              .find("expirationTimestamp") != std::string::npos);
}

TEST_CASE("ExecCredential errors never quote the token (fuzz regression)") {
    // tests/fuzz/regressions/exec_credential/token-in-expiration-error
    std::string token;
    std::optional<std::time_t> expiry;
    const std::string err = parse_exec_credential(
        R"({"kind":"ExecCredential","status":{"token":"s3cr3t-t0ken","expirationTimestamp":"2026-x s3cr3t-t0ken"}})",
        token, expiry);
    CHECK(err.find("expirationTimestamp") != std::string::npos);
    CHECK(err.find("s3cr3t-t0ken") == std::string::npos);
}
