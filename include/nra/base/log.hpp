// Structured logging to stderr: one JSON object per line (default) or text.
// Levels as the upstream agent: error, warn, info, verbose, debug, silly.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace nra::log {

enum class Level { Error = 0, Warn, Info, Verbose, Debug, Silly };
enum class Format { Json, Text };

std::optional<Level> parse_level(std::string_view s);
std::string_view level_name(Level l);

// A key/value field. Numbers and booleans are emitted unquoted in JSON.
struct Field {
    std::string_view key;
    std::string value;
    bool raw = false;  // value is a JSON number/bool literal
    Field(std::string_view k, std::string_view v) : key(k), value(v) {}
    Field(std::string_view k, const char* v) : key(k), value(v ? v : "") {}
    Field(std::string_view k, const std::string& v) : key(k), value(v) {}
    Field(std::string_view k, bool v) : key(k), value(v ? "true" : "false"), raw(true) {}
    template <class N, class = std::enable_if_t<std::is_arithmetic_v<N> && !std::is_same_v<N, bool>>>
    Field(std::string_view k, N v) : key(k), value(std::to_string(v)), raw(true) {}
};

void init(Level level, Format format);
bool enabled(Level l);
void write(Level l, std::string_view msg, std::initializer_list<Field> fields = {});

inline void error(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::Error, m, f); }
inline void warn(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::Warn, m, f); }
inline void info(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::Info, m, f); }
inline void verbose(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::Verbose, m, f); }
inline void debug(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::Debug, m, f); }

// Now in UTC with microseconds, as log lines carry it: 2026-11-26T15:57:46.932955Z.
std::string timestamp();
// JSON string escaping, shared with anything else that writes JSON.
std::string json_escape(std::string_view s);

}  // namespace nra::log
