// The legacy MetalLB configuration (ConfigMap data.config / static file).
#pragma once

#include <cstddef>
#include <vector>

#include "nra/core/model.hpp"
#include "nra/doc/tree.hpp"

namespace nra {

// Which rules a document is held to. Both refuse the whole document on any
// problem (the caller keeps its last good configuration); they differ in
// what they check.
enum class LegacyRules {
    // The ConfigMap: everything MetalLB v0.12's parser checks (strict keys,
    // ASNs, ports, timers, communities, BFD profiles, pool names, overlaps,
    // aggregation lengths; docs/kubernetes.md has the table).
    Speaker,
    // The static file: strict keys and what the agent itself reads (peer
    // addresses and node selectors, pool protocols, bgp pool addresses); the
    // speaker-only fields are not required nor checked, so files written for
    // the Node.js agent (peer-address and addresses only) keep working.
    File,
};

struct LegacyParse {
    Model model;                          // empty when rejected()
    std::vector<Diagnostic> diagnostics;  // every problem found (capped); any one rejects the document
    bool fatal = false;                   // not a config at all, or peers/address-pools of the wrong shape
                                          // (the last diagnostic says why); the caller keeps its last good config
    // peers or address-pools is present as a list (`peers: []` included): the
    // document means to configure. Without one (an empty document, `peers:`
    // with nothing after it, unrelated keys) it holds no configuration, and
    // the static file keeps its last good one rather than removing all routing.
    bool has_lists = false;
    std::size_t diagnostics_dropped = 0;  // beyond kMaxLegacyDiagnostics (counted in a last diagnostic)

    bool rejected() const { return fatal || !diagnostics.empty(); }
};

// At most this many diagnostics are kept (a 1 MiB list of bad entries must
// not cost a string pair per entry); the rest are counted.
constexpr std::size_t kMaxLegacyDiagnostics = 100;

// peers[].peer-address (+ node-selectors), address-pools[] with protocol bgp.
// Every problem is reported with where it is; any problem rejects the whole
// document (model left empty), as MetalLB's parser does.
LegacyParse parse_legacy(const Node& document, LegacyRules rules = LegacyRules::File);

}  // namespace nra
