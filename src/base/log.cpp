#include "nra/base/log.hpp"

#include <sys/uio.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>

namespace nra::log {

namespace {
// Process-wide logging configuration: set once at start-up, read everywhere.
Level g_level = Level::Info;
Format g_format = Format::Json;

}  // namespace

std::string timestamp() {
    const auto now = std::chrono::system_clock::now();
    const auto secs = std::chrono::system_clock::to_time_t(now);
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(us));
    return buf;
}

std::optional<Level> parse_level(std::string_view s) {
    static constexpr std::string_view names[] = {"error", "warn", "info", "verbose", "debug", "silly"};
    for (int i = 0; i < 6; ++i)
        if (s == names[i]) return static_cast<Level>(i);
    return std::nullopt;
}

std::string_view level_name(Level l) {
    static constexpr std::string_view names[] = {"error", "warn", "info", "verbose", "debug", "silly"};
    return names[static_cast<int>(l)];
}

void init(Level level, Format format) {
    g_level = level;
    g_format = format;
}

bool enabled(Level l) { return l <= g_level; }

std::string json_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    return out;
}

void write(Level l, std::string_view msg, std::initializer_list<Field> fields) {
    if (!enabled(l)) return;
    std::string line;
    line.reserve(128 + msg.size());
    if (g_format == Format::Json) {
        line += "{\"time\":\"" + timestamp() + "\",\"level\":\"";
        line += level_name(l);
        line += "\",\"msg\":\"" + json_escape(msg) + "\"";
        for (const Field& f : fields) {
            line += ",\"" + json_escape(f.key) + "\":";
            line += f.raw ? f.value : "\"" + json_escape(f.value) + "\"";
        }
        line += "}\n";
    } else {
        line += timestamp() + " ";
        std::string lv(level_name(l));
        for (auto& c : lv) c = static_cast<char>(c - 32 * (c >= 'a' && c <= 'z'));
        line += lv + " " + std::string(msg);
        for (const Field& f : fields) {
            line += " " + std::string(f.key) + "=";
            const bool quote = !f.raw && (f.value.empty() || f.value.find(' ') != std::string::npos);
            line += quote ? "\"" + f.value + "\"" : f.value;
        }
        line += "\n";
    }
    // One write per line so lines from concurrent writers never interleave.
    const char* p = line.data();
    std::size_t left = line.size();
    while (left) {
        const ssize_t n = ::write(STDERR_FILENO, p, left);
        if (n <= 0) break;
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}

}  // namespace nra::log
