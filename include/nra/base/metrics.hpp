// Prometheus metrics: a registry of counter and gauge families with labels,
// rendered in the text exposition format 0.0.4. Plain values: no I/O, no
// globals; the agent owns one registry and the HTTP server renders it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nra::metrics {

enum class Type { Counter, Gauge };

using Labels = std::vector<std::pair<std::string, std::string>>;

class Registry {
public:
    // Declares a family (name without the prefix given to render()). A family
    // with no series is still rendered with its HELP and TYPE lines.
    void describe(std::string name, Type type, std::string help);

    // Counter: adds `by` (>= 0) to the series of these labels.
    void inc(std::string_view name, const Labels& labels = {}, double by = 1);
    // Gauge: sets the series of these labels.
    void set(std::string_view name, const Labels& labels, double value);
    void set(std::string_view name, double value) { set(name, {}, value); }
    // Gauge families whose label sets come and go (per table, per peer):
    // drop every series, then set the current ones.
    void clear(std::string_view name);

    double get(std::string_view name, const Labels& labels = {}) const;  // 0 when absent

    // Exposition format 0.0.4: "# HELP", "# TYPE", one line per series,
    // families in name order, series in label order.
    std::string render(std::string_view prefix) const;

private:
    struct Family {
        Type type = Type::Counter;
        std::string help;
        std::map<std::string, double> series;  // rendered label set -> value
    };
    Family& family(std::string_view name);

    std::map<std::string, Family, std::less<>> families_;
};

// `{a="x",b="y"}` with values escaped as the format requires; "" for no labels.
std::string render_labels(const Labels& labels);
// A sample value as the format writes it: integers without a fraction,
// NaN, +Inf, -Inf by name.
std::string render_value(double v);

}  // namespace nra::metrics
