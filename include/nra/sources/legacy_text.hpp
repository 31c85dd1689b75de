// The one path from legacy MetalLB YAML text (the static file, the
// ConfigMap's data.config) to a Model, and the one place a load's skipped
// entries are logged.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "nra/base/result.hpp"
#include "nra/core/model.hpp"

namespace nra {

struct LegacyLoad {
    Model model;
    std::vector<Diagnostic> diagnostics;  // invalid entries, skipped (the rest is kept)
    // No configuration in the text: an empty document (whitespace or
    // comments only), or neither a peers nor an address-pools list. The
    // model is then empty; each source decides what that means (the static
    // file keeps its last good configuration, the ConfigMap applies it).
    bool empty = false;
    std::string
        empty_reason;  // "ORIGIN is empty (...)" / "ORIGIN: line 1 column 1: no peers or address-pools list ..."
};

// Parses `text`; `origin` names it in every message ("/etc/metallb/config.yaml",
// "ConfigMap metallb-system/config data.config"). Fails with "ORIGIN: invalid
// YAML: ..." or "ORIGIN: WHERE: why it is not a MetalLB configuration".
Result<LegacyLoad> load_legacy_text(std::string_view text, const std::string& origin);

// Logs each skipped entry of a load: "configuration entry skipped" with the
// source, where and why.
void log_skipped_entries(const std::string& origin, const std::vector<Diagnostic>& diagnostics);

}  // namespace nra
