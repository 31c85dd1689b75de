// libFuzzer target: the output of a kubeconfig exec credential plugin
// (src/kube/config.cpp parse_exec_credential): an ExecCredential JSON with
// status.token and an optional RFC 3339 status.expirationTimestamp.
//
// Input: the plugin's stdout. Invariants: success yields a non-empty token;
// an error message never contains the token.
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
    if (!error.empty() && !token.empty() && token.size() >= 8 && error.find(token) != std::string::npos) std::abort();
    return 0;
}
