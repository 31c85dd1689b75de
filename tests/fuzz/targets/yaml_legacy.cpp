// libFuzzer target: a static file or ConfigMap data.config -> YAML tree
// (src/sources/yaml.cpp) -> legacy MetalLB Model (src/core/legacy.cpp) ->
// the desired kernel state (src/core/desired.cpp), as both sources do.
//
// Input: the file text. Invariants (the headers' contracts): a YAML error
// starts with "line L column C"; a fatal legacy parse says why in its last
// diagnostic; a refused document (either rules) leaves an empty model; the
// desired state holds at most one route per family.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "nra/core/desired.hpp"
#include "nra/core/legacy.hpp"
#include "nra/doc/yaml.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto doc = nra::parse_yaml(text);
    if (!doc) {
        if (doc.error.rfind("line ", 0) != 0) std::abort();  // "line L column C: what"
        return 0;
    }
    const nra::LegacyParse speaker = nra::parse_legacy(*doc.value, nra::LegacyRules::Speaker);
    if (speaker.rejected() && (!speaker.model.peers.empty() || !speaker.model.addresses.empty())) std::abort();
    const nra::LegacyParse lp = nra::parse_legacy(*doc.value, nra::LegacyRules::File);
    if (lp.rejected() && (!lp.model.peers.empty() || !lp.model.addresses.empty())) std::abort();
    if (lp.fatal) {
        if (lp.diagnostics.empty()) std::abort();  // the last diagnostic says why
        return 0;
    }
    const nra::Desired d = nra::desired_state(lp.model, nra::Settings{});
    if (d.routes.size() > 2) std::abort();  // at most one per family
    return 0;
}
