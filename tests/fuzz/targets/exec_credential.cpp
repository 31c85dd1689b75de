// libFuzzer target: the output of a kubeconfig exec credential plugin
// (src/kube/config.cpp parse_exec_credential): an ExecCredential JSON with
// status.token and an optional RFC 3339 status.expirationTimestamp.
//
// Input: the plugin's stdout. Invariants: success yields a non-empty token;
// an error message never contains a token (one with a byte our wording
// never uses, so that it cannot be there by coincidence).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include "nra/kube/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view out(reinterpret_cast<const char*>(data), size);
    std::string token;
    std::optional<std::time_t> expiry;
    const std::string error = nra::kube::parse_exec_credential(out, token, expiry);
    if (error.empty() && token.empty()) std::abort();
    // Our error wording is plain ASCII text; a token that holds a byte the
    // wording never uses cannot appear in an error by coincidence (a token
    // like "expirationTimestamp (not an RF" can).
    const bool distinctive =
        token.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;'()/_-") !=
        std::string::npos;
    if (!error.empty() && distinctive && error.find(token) != std::string::npos) std::abort();
    return 0;
}
