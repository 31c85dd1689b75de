// The one path from legacy MetalLB YAML text (the static file, the
// ConfigMap's data.config) to a Model, and the one place a load's skipped
// entries and refused documents are logged.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "nra/base/result.hpp"
#include "nra/core/legacy.hpp"
#include "nra/core/model.hpp"

namespace nra {

// What a load found (an outcome record): a configuration, no configuration,
// or a document refused whole because of `problems`.
struct LegacyLoad {
    Model model;  // empty unless the text is a configuration without problems
    // Every problem found (capped, see kMaxLegacyDiagnostics), each with where
    // it is. Any one refuses the whole document: MetalLB keeps announcing its
    // previous configuration, and the caller keeps its last good one.
    std::vector<Diagnostic> problems;
    // No configuration in the text: an empty document (whitespace or
    // comments only), or neither a peers nor an address-pools list. The
    // model is then empty; each source decides what that means (the static
    // file keeps its last good configuration, the ConfigMap applies it).
    bool empty = false;
    std::string
        empty_reason;  // "ORIGIN is empty (...)" / "ORIGIN: line 1 column 1: no peers or address-pools list ..."

    bool rejected() const { return !problems.empty(); }
};

// Parses `text` under `rules`; `origin` names it in every message
// ("/etc/metallb/config.yaml", "ConfigMap metallb-system/config data.config").
// Fails with "ORIGIN: invalid YAML: ..." or "ORIGIN: WHERE: why it is not a
// MetalLB configuration" (the wrong shape altogether).
Result<LegacyLoad> load_legacy_text(std::string_view text, const std::string& origin, LegacyRules rules);

// One line for a refused document: "ORIGIN: configuration refused (N
// problems; the first: WHERE: WHAT)".
std::string rejection_summary(const std::string& origin, const std::vector<Diagnostic>& problems);

// Logs each problem of a refused document at error: "configuration problem"
// with the source, where and why.
void log_config_problems(const std::string& origin, const std::vector<Diagnostic>& problems);

// Logs each skipped entry (the desired state's diagnostics): "configuration
// entry skipped" with the source, where and why.
void log_skipped_entries(const std::string& origin, const std::vector<Diagnostic>& diagnostics);

}  // namespace nra
