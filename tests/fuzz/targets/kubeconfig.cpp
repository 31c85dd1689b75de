// libFuzzer target: kubeconfig files (src/kube/config.cpp load_kubeconfig,
// parse_server_url, base64 data, exec plugin entries) from an in-memory Env.
//
// Input: the kubeconfig text, optionally followed by "\n---8<---\n" and a
// second file (a ':'-list of two files, KUBECONFIG style). Every other file
// it names (CA, client certificate, tokenFile) reads as a short PEM-ish
// text, except paths containing "missing", which are unreadable. Loading
// either returns a configuration or throws std::runtime_error with a
// message; anything else escaping is a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

#include "nra/kube/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    constexpr std::string_view kCut = "\n---8<---\n";
    const auto cut = input.find(kCut);
    const std::string first(input.substr(0, cut));
    const std::string second(cut == std::string_view::npos ? std::string_view() : input.substr(cut + kCut.size()));

    nra::kube::Env env;
    env.getenv = [](const std::string& k) -> std::optional<std::string> {
        if (k == "HOME") return std::string("/home/fuzz");
        return std::nullopt;
    };
    env.is_regular_file = [&](const std::string& path) {
        return path == "/k/config" || (path == "/k/second" && cut != std::string_view::npos);
    };
    env.read_file = [&](const std::string& path) -> std::optional<std::string> {
        if (path == "/k/config") return first;
        if (path == "/k/second") return second;
        if (path.find("missing") != std::string::npos) return std::nullopt;
        return std::string("-----BEGIN CERTIFICATE-----\nfuzz\n-----END CERTIFICATE-----\n");
    };
    const bool two = cut != std::string_view::npos;
    try {
        nra::kube::ApiConfig cfg = nra::kube::load_kubeconfig(
            two ? std::vector<std::string>{"/k/config", "/k/second"} : std::vector<std::string>{"/k/config"}, !two,
            env);
        if (cfg.host.empty() && cfg.tls) std::abort();  // a loaded configuration names its server
        (void)cfg.host_header();
        (void)cfg.url();
    } catch (const std::runtime_error& e) {
        if (std::string_view(e.what()).empty()) std::abort();
    }
    return 0;
}
