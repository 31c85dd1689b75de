#include "nra/base/metrics.hpp"

#include <cmath>
#include <cstdio>

namespace nra::metrics {

namespace {

void escape_into(std::string& out, std::string_view s, bool quote_too) {
    for (char c : s) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else if (quote_too && c == '"')
            out += "\\\"";
        else
            out += c;
    }
}

}  // namespace

std::string render_labels(const Labels& labels) {
    if (labels.empty()) return {};
    std::string out = "{";
    for (std::size_t i = 0; i < labels.size(); ++i) {
        if (i) out += ',';
        out += labels[i].first;
        out += "=\"";
        escape_into(out, labels[i].second, true);
        out += '"';
    }
    out += '}';
    return out;
}

std::string render_value(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    char buf[64];
    if (v == std::floor(v) && std::fabs(v) < 1e15)
        std::snprintf(buf, sizeof buf, "%.0f", v);
    else
        std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

void Registry::describe(std::string name, Type type, std::string help) {
    Family& f = families_[std::move(name)];
    f.type = type;
    f.help = std::move(help);
}

Registry::Family& Registry::family(std::string_view name) {
    auto it = families_.find(name);
    if (it == families_.end()) it = families_.emplace(std::string(name), Family{}).first;
    return it->second;
}

void Registry::inc(std::string_view name, const Labels& labels, double by) {
    if (by < 0) return;  // counters only go up
    family(name).series[render_labels(labels)] += by;
}

void Registry::set(std::string_view name, const Labels& labels, double value) {
    family(name).series[render_labels(labels)] = value;
}

void Registry::clear(std::string_view name) {
    if (auto it = families_.find(name); it != families_.end()) it->second.series.clear();
}

double Registry::get(std::string_view name, const Labels& labels) const {
    auto it = families_.find(name);
    if (it == families_.end()) return 0;
    auto s = it->second.series.find(render_labels(labels));
    return s == it->second.series.end() ? 0 : s->second;
}

std::string Registry::render(std::string_view prefix) const {
    std::string out;
    for (const auto& [name, f] : families_) {
        const std::string full = std::string(prefix) + name;
        out += "# HELP ";
        out += full;
        out += ' ';
        escape_into(out, f.help, false);
        out += "\n# TYPE ";
        out += full;
        out += f.type == Type::Counter ? " counter\n" : " gauge\n";
        for (const auto& [labels, v] : f.series) {
            out += full;
            out += labels;
            out += ' ';
            out += render_value(v);
            out += '\n';
        }
    }
    return out;
}

}  // namespace nra::metrics
