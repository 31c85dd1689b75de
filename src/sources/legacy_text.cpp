#include "nra/sources/legacy_text.hpp"

#include "nra/base/log.hpp"
#include "nra/doc/yaml.hpp"

namespace nra {

Result<LegacyLoad> load_legacy_text(std::string_view text, const std::string& origin, LegacyRules rules) {
    auto doc = parse_yaml(text);
    if (!doc) return Result<LegacyLoad>::fail(origin + ": invalid YAML: " + doc.error);
    LegacyLoad out;
    if (doc.value->is_null()) {
        out.empty = true;
        out.empty_reason = origin +
                           " is empty (no configuration, only whitespace or comments); "
                           "to remove all routing on purpose write `peers: []`";
        return Result<LegacyLoad>::ok(std::move(out));
    }
    LegacyParse lp = parse_legacy(*doc.value, rules);
    if (lp.fatal)
        return Result<LegacyLoad>::fail(origin + ": " +
                                        (lp.diagnostics.empty()
                                             ? "not a MetalLB configuration"
                                             : lp.diagnostics.back().where + ": " + lp.diagnostics.back().what));
    if (lp.rejected()) {
        out.problems = std::move(lp.diagnostics);
        return Result<LegacyLoad>::ok(std::move(out));
    }
    if (!lp.has_lists) {
        out.empty = true;
        out.empty_reason = origin + ": " + doc.value->where() +
                           ": no peers or address-pools list (a truncated file?); to remove all routing on purpose "
                           "write `peers: []`";
    }
    out.model = std::move(lp.model);
    return Result<LegacyLoad>::ok(std::move(out));
}

std::string rejection_summary(const std::string& origin, const std::vector<Diagnostic>& problems) {
    std::string s = origin + ": configuration refused (" + std::to_string(problems.size()) +
                    (problems.size() == 1 ? " problem" : " problems");
    if (!problems.empty()) s += "; the first: " + problems.front().where + ": " + problems.front().what;
    return s + ")";
}

void log_config_problems(const std::string& origin, const std::vector<Diagnostic>& problems) {
    for (const auto& d : problems)
        log::error("configuration problem", {{"source", origin}, {"where", d.where}, {"error", d.what}});
}

void log_skipped_entries(const std::string& origin, const std::vector<Diagnostic>& diagnostics) {
    for (const auto& d : diagnostics)
        log::warn("configuration entry skipped", {{"source", origin}, {"where", d.where}, {"error", d.what}});
}

}  // namespace nra
