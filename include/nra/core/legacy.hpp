// The legacy MetalLB configuration (ConfigMap data.config / static file).
#pragma once

#include <cstddef>
#include <vector>

#include "nra/core/model.hpp"
#include "nra/doc/tree.hpp"

namespace nra {

struct LegacyParse {
    Model model;
    std::vector<Diagnostic> diagnostics;  // invalid entries, skipped
    bool fatal = false;                   // not a config at all, or peers/address-pools of the wrong shape
                                          // (the last diagnostic says why); the caller keeps its last good config
    // peers or address-pools is present as a list (`peers: []` included): the
    // document means to configure. Without one (an empty document, `peers:`
    // with nothing after it, unrelated keys) it holds no configuration, and
    // the static file keeps its last good one rather than removing all routing.
    bool has_lists = false;
    std::size_t diagnostics_dropped = 0;  // beyond kMaxLegacyDiagnostics (counted in a last diagnostic)
};

// At most this many entry diagnostics are kept (a 1 MiB list of bad entries
// must not cost a string pair per entry); the rest are counted.
constexpr std::size_t kMaxLegacyDiagnostics = 100;

// peers[].peer-address (+ node-selectors), address-pools[] with protocol bgp.
// Every invalid entry is reported and skipped; the rest is kept.
LegacyParse parse_legacy(const Node& document);

}  // namespace nra
