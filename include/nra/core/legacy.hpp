// The legacy MetalLB configuration (ConfigMap data.config / static file).
#pragma once

#include <vector>

#include "nra/core/model.hpp"
#include "nra/doc/tree.hpp"

namespace nra {

struct LegacyParse {
    Model model;
    std::vector<Diagnostic> diagnostics;  // invalid entries, skipped
    bool fatal = false;  // not a config at all, or peers/address-pools of the wrong shape
                         // (the last diagnostic says why); the caller keeps its last good config
};

// peers[].peer-address (+ node-selectors), address-pools[] with protocol bgp.
// Every invalid entry is reported and skipped; the rest is kept.
LegacyParse parse_legacy(const Node& document);

}  // namespace nra
