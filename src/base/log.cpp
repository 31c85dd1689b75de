#include "nra/base/log.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>

namespace nra::log {

namespace {
// Process-wide logging configuration: set once at start-up, read everywhere.
Level g_level = Level::Info;
Format g_format = Format::Json;

// What is still queued at exit waits this long for a reader.
constexpr auto kExitFlush = std::chrono::milliseconds(1000);
// stderr as the process's sink. A regular file (or block device) never
// blocks for long: written directly, as before. Anything else - a pipe (the
// container runtime, `| logger`), a socket (journald's stream), a tty (^S,
// a pseudo-terminal nobody drains), a character device - can stall a
// blocking write forever, so it is written without blocking through a
// private open file description (/proc/self/fd/2 opened O_NONBLOCK): the
// flag then never leaks to whoever shares our stderr. Sockets cannot be
// reopened that way and are written with send(MSG_DONTWAIT). Only when
// /proc is unavailable is O_NONBLOCK set on stderr itself.
std::unique_ptr<Sink> open_stderr_sink() {
    struct stat st {};
    if (::fstat(STDERR_FILENO, &st) < 0 || S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))
        return std::make_unique<Sink>(STDERR_FILENO, false, false);
    if (S_ISSOCK(st.st_mode)) return std::make_unique<Sink>(STDERR_FILENO, true, true);
    const int fd = ::open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd >= 0) return std::make_unique<Sink>(fd, true, false);
    const int fl = ::fcntl(STDERR_FILENO, F_GETFL);
    if (fl >= 0 && ::fcntl(STDERR_FILENO, F_SETFL, fl | O_NONBLOCK) == 0)
        return std::make_unique<Sink>(STDERR_FILENO, true, false);
    return std::make_unique<Sink>(STDERR_FILENO, false, false);
}

std::unique_ptr<Sink> g_sink;

void flush_at_exit() {
    if (g_sink) g_sink->drain(kExitFlush);
}

Sink& sink() {
    if (!g_sink) {
        g_sink = open_stderr_sink();
        std::atexit(flush_at_exit);
    }
    return *g_sink;
}

}  // namespace

// ---- sink ------------------------------------------------------------------

Sink::Sink(int fd, bool nonblocking, bool socket, std::size_t limit)
    : fd_(fd), nonblocking_(nonblocking), socket_(socket), limit_(limit) {}

long Sink::put(const char* p, std::size_t n) {
    for (;;) {
        const ssize_t w = socket_ ? ::send(fd_, p, n, MSG_DONTWAIT | MSG_NOSIGNAL) : ::write(fd_, p, n);
        if (w < 0 && errno == EINTR) continue;
        return static_cast<long>(w);
    }
}

bool Sink::write_line(std::string_view line) {
    if (broken_) return false;
    if (!nonblocking_) {
        // One write per line so lines from concurrent writers never interleave.
        while (!line.empty()) {
            const long n = put(line.data(), line.size());
            if (n <= 0) return false;
            line.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }
    flush();
    if (broken_) return false;
    if (queue_.empty() && dropped_ == 0) {
        const long n = put(line.data(), line.size());
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            broken_ = true;
            return false;
        }
        const std::size_t done = n > 0 ? static_cast<std::size_t>(n) : 0;
        if (done == line.size()) return true;
        // A line begun is always completed (the stream stays line-structured).
        if (done > 0 || line.size() <= limit_) {
            queue_.assign(line.substr(done));
            return true;
        }
    }
    // The report of earlier drops (a few hundred bytes at most: the queue may
    // exceed its bound by that) goes where the gap is.
    if (queue_.size() - head_ + line.size() > limit_) {
        ++dropped_;
        ++dropped_total_;
        return false;
    }
    report();
    queue_.append(line);
    return true;
}

void Sink::report() {
    if (!dropped_) return;
    queue_.append(dropped_report(dropped_));
    dropped_ = 0;
}

void Sink::flush() {
    if (!nonblocking_ || broken_) return;
    for (;;) {
        while (head_ < queue_.size()) {
            const long n = put(queue_.data() + head_, queue_.size() - head_);
            if (n > 0) {
                head_ += static_cast<std::size_t>(n);
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            broken_ = true;  // the reader is gone: nothing will ever be read
            queue_.clear();
            head_ = 0;
            dropped_ = 0;
            return;
        }
        if (head_ < queue_.size()) {
            if (head_ >= (64u << 10) && head_ * 2 >= queue_.size()) {
                queue_.erase(0, head_);
                head_ = 0;
            }
            return;
        }
        queue_.clear();
        head_ = 0;
        if (queue_.capacity() > (64u << 10)) queue_.shrink_to_fit();
        if (!dropped_) return;
        report();
    }
}

void Sink::drain(std::chrono::milliseconds budget) {
    const auto deadline = std::chrono::steady_clock::now() + budget;
    for (;;) {
        flush();
        if (!pending() || broken_ || !nonblocking_) return;
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return;
        pollfd p{fd_, POLLOUT, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) return;
    }
}

bool pending() { return g_sink && g_sink->pending(); }
int output_fd() { return sink().fd(); }
void flush() {
    if (g_sink) g_sink->flush();
}

// ---- format ----------------------------------------------------------------

std::string timestamp() {
    const auto now = std::chrono::system_clock::now();
    const auto secs = std::chrono::system_clock::to_time_t(now);
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(us));
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
    sink();
}

bool enabled(Level l) { return l <= g_level; }

std::size_t utf8_sequence(std::string_view s, std::size_t i) {
    const auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = at(i);
    if (c < 0x80) return 1;
    std::size_t len;
    unsigned char lo = 0x80, hi = 0xbf;  // bounds of the second byte (RFC 3629)
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;  // overlong
        else if (c == 0xed)
            hi = 0x9f;  // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;  // overlong
        else if (c == 0xf4)
            hi = 0x8f;  // above U+10FFFF
    } else {
        return 0;  // continuation byte, overlong lead 0xc0/0xc1, 0xf5..0xff
    }
    if (s.size() - i < len) return 0;
    if (at(i + 1) < lo || at(i + 1) > hi) return 0;
    for (std::size_t k = 2; k < len; ++k)
        if (at(i + k) < 0x80 || at(i + k) > 0xbf) return 0;
    return len;
}

namespace {

void hex_escape(std::string& out, unsigned char c) {
    static constexpr char digits[] = "0123456789abcdef";
    out += "\\x";
    out += digits[c >> 4];
    out += digits[c & 0xf];
}

// Appends s[i..] up to the next byte that needs escaping as is; returns the
// position of that byte. `special` tells which ASCII bytes need escaping.
template <class Special>
std::size_t copy_plain(std::string& out, std::string_view s, std::size_t i, Special special) {
    const std::size_t from = i;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            if (special(c)) break;
            ++i;
            continue;
        }
        const std::size_t n = utf8_sequence(s, i);
        if (!n) break;
        i += n;
    }
    out.append(s.substr(from, i - from));
    return i;
}

}  // namespace

// The escapes both formats share; false for any other byte.
static bool common_escape(std::string& out, unsigned char c) {
    switch (c) {
    case '"':
        out += "\\\"";
        return true;
    case '\\':
        out += "\\\\";
        return true;
    case '\n':
        out += "\\n";
        return true;
    case '\r':
        out += "\\r";
        return true;
    case '\t':
        out += "\\t";
        return true;
    default:
        return false;
    }
}

std::string json_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    const auto special = [](unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; };
    for (std::size_t i = 0; (i = copy_plain(out, s, i, special)) < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (!common_escape(out, c)) {
            if (c < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                out += buf;
            } else {
                out += '\\';  // invalid UTF-8: the JSON text \\xNN
                hex_escape(out, c);
            }
        }
    }
    return out;
}

std::string text_escape(std::string_view s, bool quote_if_needed) {
    std::string out;
    out.reserve(s.size() + 2);
    const auto special = [](unsigned char c) { return c < 0x20 || c == 0x7f || c == '"' || c == '\\'; };
    bool quote = quote_if_needed && s.empty();
    for (std::size_t i = 0; (i = copy_plain(out, s, i, special)) < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == '"') quote = quote_if_needed;
        if (!common_escape(out, c)) hex_escape(out, c);
    }
    if (quote_if_needed && !quote) quote = out.find_first_of(" =") != std::string::npos;
    return quote ? "\"" + out + "\"" : out;
}

std::string dropped_report(std::uint64_t n) {
    std::string line;
    const std::string msg = "log lines dropped: the reader of the log output fell behind";
    if (g_format == Format::Json) {
        line = "{\"time\":\"" + timestamp() + "\",\"level\":\"warn\",\"msg\":\"" + msg +
               "\",\"dropped\":" + std::to_string(n) + "}\n";
    } else {
        line = timestamp() + " WARN " + msg + " dropped=" + std::to_string(n) + "\n";
    }
    return line;
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
        line += lv + " " + text_escape(msg, false);
        for (const Field& f : fields) {
            line += " " + text_escape(f.key, false) + "=";
            line += f.raw ? f.value : text_escape(f.value, true);
        }
        line += "\n";
    }
    sink().write_line(line);
}

}  // namespace nra::log
