// Log output: escaping keeps every line valid UTF-8 (and JSON); the sink never
// blocks on a reader that does not read, drops whole lines beyond its bound
// and reports them when the reader returns.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

#include "nra/base/log.hpp"

using namespace nra::log;

namespace {

bool valid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = utf8_sequence(s, i);
        if (!n) return false;
        i += n;
    }
    return true;
}

std::string read_all(int fd) {
    std::string out;
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

}  // namespace

TEST_CASE("utf8_sequence accepts exactly RFC 3629 UTF-8") {
    CHECK(utf8_sequence("a", 0) == 1);
    CHECK(utf8_sequence("\xc3\xa9", 0) == 2);          // é
    CHECK(utf8_sequence("\xe2\x82\xac", 0) == 3);      // €
    CHECK(utf8_sequence("\xf0\x9f\x98\x80", 0) == 4);  // 😀
    CHECK(utf8_sequence("\x80", 0) == 0);              // lone continuation
    CHECK(utf8_sequence("\xc0\xaf", 0) == 0);          // overlong '/'
    CHECK(utf8_sequence("\xe0\x80\xaf", 0) == 0);      // overlong
    CHECK(utf8_sequence("\xed\xa0\x80", 0) == 0);      // surrogate
    CHECK(utf8_sequence("\xf4\x90\x80\x80", 0) == 0);  // above U+10FFFF
    CHECK(utf8_sequence("\xf5\x80\x80\x80", 0) == 0);
    CHECK(utf8_sequence("\xe2\x82", 0) == 0);   // cut at the end
    CHECK(utf8_sequence("\xe9t\xe9", 0) == 0);  // Latin-1 é
}

TEST_CASE("json_escape keeps valid UTF-8 and escapes invalid bytes") {
    CHECK(json_escape("caf\xc3\xa9 \xe2\x82\xac") == "caf\xc3\xa9 \xe2\x82\xac");
    CHECK(json_escape("caf\xe9") == "caf\\\\xe9");  // Latin-1 é -> the JSON text \\xe9
    CHECK(json_escape("\xff\xfe") == "\\\\xff\\\\xfe");
    CHECK(json_escape("\xe2\x82") == "\\\\xe2\\\\x82");  // cut sequence
    CHECK(json_escape("a\"b\\c\n\x01") == "a\\\"b\\\\c\\n\\u0001");
    // Every byte value, alone and after a valid sequence: the result is valid UTF-8.
    for (int b = 0; b < 256; ++b) {
        const std::string in = std::string("x\xc3\xa9") + static_cast<char>(b) + "\xe2\x82";
        const std::string out = json_escape(in);
        INFO(b);
        CHECK(valid_utf8(out));
        CHECK(out.find('\n') == std::string::npos);
    }
}

TEST_CASE("text_escape keeps valid UTF-8, escapes invalid bytes and control characters") {
    CHECK(text_escape("caf\xc3\xa9", true) == "caf\xc3\xa9");
    CHECK(text_escape("caf\xe9", true) == "caf\\xe9");
    CHECK(text_escape("two words", true) == "\"two words\"");
    CHECK(text_escape("", true) == "\"\"");
    CHECK(text_escape("", false) == "");
    CHECK(text_escape("a=b", true) == "\"a=b\"");
    CHECK(text_escape("line1\nline2\x7f", false) == "line1\\nline2\\x7f");
    CHECK(text_escape("say \"hi\"", true) == "\"say \\\"hi\\\"\"");
    CHECK(text_escape("back\\slash", true) == "back\\\\slash");
    for (int b = 0; b < 256; ++b) {
        const std::string out = text_escape(std::string("\xc3\xa9") + static_cast<char>(b), true);
        INFO(b);
        CHECK(valid_utf8(out));
        CHECK(out.find('\n') == std::string::npos);
    }
}

TEST_CASE("sink on a pipe nobody reads never blocks, drops whole lines and reports them") {
    int p[2];
    REQUIRE(::pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
    const int rd = p[0], wr = p[1];
    constexpr std::size_t limit = 64 * 1024;
    Sink sink(wr, true, false, limit);
    const std::string line = std::string(999, 'x') + "\n";
    // The pipe holds 64 KiB, the queue 64 KiB: 10,000 KB-lines cannot all fit.
    std::size_t accepted = 0;
    for (int i = 0; i < 10000; ++i) accepted += sink.write_line(line);
    CHECK(accepted < 10000);
    CHECK(sink.dropped() == 10000 - accepted);
    CHECK(sink.queued_bytes() <= limit);
    CHECK(sink.pending());

    // The reader comes back: everything queued is written, then the report.
    std::string got;
    for (int round = 0; round < 100 && sink.pending(); ++round) {
        got += read_all(rd);
        sink.flush();
    }
    got += read_all(rd);
    CHECK_FALSE(sink.pending());
    const auto report_at = got.find("log lines dropped");
    REQUIRE(report_at != std::string::npos);
    CHECK(got.find("\"dropped\":" + std::to_string(10000 - accepted)) != std::string::npos);
    // Only whole lines: every line but the report is a full written line.
    std::size_t full = 0, other = 0;
    for (std::size_t pos = 0; pos < got.size();) {
        const auto nl = got.find('\n', pos);
        REQUIRE(nl != std::string::npos);
        if (got.compare(pos, nl + 1 - pos, line) == 0)
            ++full;
        else
            ++other;
        pos = nl + 1;
    }
    CHECK(full == accepted);
    CHECK(other == 1);

    // Writing works again: a new line goes straight through.
    CHECK(sink.write_line(line));
    CHECK(read_all(rd) == line);
    ::close(rd);
    ::close(wr);
}

TEST_CASE("sink: a report sits where the gap is when the reader takes a little") {
    int p[2];
    REQUIRE(::pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
    Sink sink(p[1], true, false, 8 * 1024);
    const std::string a = std::string(511, 'a') + "\n", b = std::string(511, 'b') + "\n";
    while (sink.dropped() == 0) sink.write_line(a);
    sink.write_line(a);
    const auto dropped = sink.dropped();
    std::string got = read_all(p[0]);  // frees the pipe
    CHECK(sink.write_line(b));         // flushes the queue, then the report, then b
    got += read_all(p[0]);
    const auto r = got.find("log lines dropped");
    REQUIRE(r != std::string::npos);
    CHECK(got.find("\"dropped\":" + std::to_string(dropped)) != std::string::npos);
    CHECK(got.find(b) > r);
    CHECK(got.rfind(a) < r);
    ::close(p[0]);
    ::close(p[1]);
}

TEST_CASE("sink: a reader that is gone discards lines without blocking or spinning") {
    int p[2];
    REQUIRE(::pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
    ::close(p[0]);
    ::signal(SIGPIPE, SIG_IGN);  // as the agent's main does
    Sink sink(p[1], true, false);
    CHECK_FALSE(sink.write_line("x\n"));  // EPIPE
    CHECK_FALSE(sink.pending());
    ::close(p[1]);
}
