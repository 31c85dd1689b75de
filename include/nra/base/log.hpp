// Structured logging to stderr: one JSON object per line (default) or text.
// Levels as the upstream agent: error, warn, info, verbose, debug, silly.
//
// Logging never blocks the caller: when stderr is a pipe, socket, tty or
// other non-regular file, lines go through a private non-blocking handle;
// what the reader does not take yet is queued (kQueueLimit bytes, whole
// lines), lines beyond that are dropped and counted, and "log lines dropped"
// is logged once the reader takes data again. The loop flushes the queue
// when output_fd() becomes writable (pending() says when to watch it); what
// is still queued at exit gets a bounded wait (kExitFlush).
#pragma once

#include <chrono>
#include <cstddef>
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

// Where lines go. Owned by the log module after init(); exposed for the loop
// and for tests (which build their own over a pipe).
class Sink {
public:
    static constexpr std::size_t kQueueLimit = 1 << 20;  // bytes of queued lines

    // fd: written without ever blocking when `nonblocking` (the handle must
    // be O_NONBLOCK, or a socket written with MSG_DONTWAIT when `socket`).
    Sink(int fd, bool nonblocking, bool socket, std::size_t limit = kQueueLimit);
    // One complete line (ending in '\n'). Returns false when it was dropped.
    bool write_line(std::string_view line);
    // Writes what is queued as far as the reader takes it; when the queue
    // empties after drops, queues the "log lines dropped" report (format of
    // the caller: see report()).
    void flush();
    // Waits up to `budget` for the reader, writing what is queued.
    void drain(std::chrono::milliseconds budget);
    bool pending() const { return !queue_.empty() || dropped_ != 0; }
    int fd() const { return fd_; }
    std::size_t queued_bytes() const { return queue_.size() - head_; }
    std::uint64_t dropped() const { return dropped_; }
    std::uint64_t dropped_total() const { return dropped_total_; }

private:
    // Bytes written, or -1 with errno (EAGAIN: the reader is behind).
    long put(const char* p, std::size_t n);
    void report();

    int fd_;
    bool nonblocking_, socket_;
    std::size_t limit_;
    std::string queue_;  // whole lines, the first possibly partly written
    std::size_t head_ = 0;
    std::uint64_t dropped_ = 0, dropped_total_ = 0;
    bool broken_ = false;  // the reader is gone (EPIPE...): lines are discarded
};

// The line the sink writes after `n` lines were dropped, in the configured
// format.
std::string dropped_report(std::uint64_t n);

// The process's sink (created by init()): the loop watches output_fd() for
// EPOLLOUT while pending(), and calls flush().
bool pending();
int output_fd();
void flush();

// Now in UTC with microseconds, as log lines carry it: 2026-11-26T15:57:46.932955Z.
std::string timestamp();
// JSON string escaping, shared with anything else that writes JSON. Valid
// UTF-8 is kept as is; a byte that does not start a valid UTF-8 sequence
// (script output in Latin-1, a cut sequence) becomes the six characters
// \\xNN, so every line is valid UTF-8 and JSON.
std::string json_escape(std::string_view s);
// The same for the text format: backslash, quote and control characters
// escaped (\\n, \\t, \\xNN), invalid UTF-8 as \\xNN; quoted when empty or
// holding a space, quote or '=' (`quote_if_needed`).
std::string text_escape(std::string_view s, bool quote_if_needed);
// Length of the valid UTF-8 sequence starting at s[i] (1 for ASCII), or 0.
std::size_t utf8_sequence(std::string_view s, std::size_t i);

}  // namespace nra::log
