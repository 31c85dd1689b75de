// Bounds on everything an API server can make the HTTP parser buffer
// (issue 8 item 9): the whole head, the header count, trailers, chunk-size
// lines, watch lines, 2xx bodies and error bodies.
#include <catch2/catch.hpp>

#include "nra/kube/http.hpp"

using namespace nra::kube;

namespace {

struct Fed {
    std::vector<HttpEvent> events;
    std::size_t consumed = 0;
    bool failed = false;
    std::string error;
    bool head = false;
};

// Feeds `parts` in order (stopping at an error) and reports what happened.
Fed feed(ResponseParser& p, const std::vector<std::string>& parts) {
    Fed f;
    for (const auto& part : parts) {
        const std::size_t before = f.events.size();
        f.consumed += p.feed(part, f.events);
        for (std::size_t i = before; i < f.events.size(); ++i) {
            if (f.events[i].kind == HttpEvent::Kind::Error) f.error = f.events[i].data;
            if (f.events[i].kind == HttpEvent::Kind::Head) f.head = true;
        }
        if (p.failed()) break;
    }
    f.failed = p.failed();
    return f;
}

std::string hex(std::size_t n) {
    char b[32];
    std::snprintf(b, sizeof b, "%zx", n);
    return b;
}

}  // namespace

TEST_CASE("limits: many small header lines are bounded by one limit for the whole head") {
    // Each line is far below the per-line size, together they exceed 64 KiB.
    ResponseParser p;
    p.begin(true);
    std::vector<std::string> parts{"HTTP/1.1 200 OK\r\n"};
    const std::string line = "X-Filler: " + std::string(1000, 'a') + "\r\n";
    for (int i = 0; i < 100; ++i) parts.push_back(line);  // ~100 KiB, but only 100 fields
    parts.push_back("\r\n");
    ResponseParser::Limits limits;
    limits.max_headers = 1000;  // the byte limit must trip, not the count
    ResponseParser q(limits);
    q.begin(true);
    const Fed f = feed(q, parts);
    CHECK(f.failed);
    CHECK_FALSE(f.head);
    CHECK(f.error.find("response head exceeds the 64 KiB limit") != std::string::npos);
}

TEST_CASE("limits: the head may be exactly at the limit, one byte more fails") {
    ResponseParser::Limits limits;
    limits.max_head = 200;
    const std::string status = "HTTP/1.1 200 OK\r\n";
    const std::string end = "Content-Length: 0\r\n\r\n";
    const std::size_t filler = 200 - status.size() - end.size() - std::string("X: \r\n").size();
    const std::string exact = status + "X: " + std::string(filler, 'b') + "\r\n" + end;
    REQUIRE(exact.size() == 200);
    {
        ResponseParser p(limits);
        p.begin(false);
        const Fed f = feed(p, {exact});
        CHECK_FALSE(f.failed);
        CHECK(p.done());
    }
    {
        ResponseParser p(limits);
        p.begin(false);
        const Fed f = feed(p, {status + "X: " + std::string(filler + 1, 'b') + "\r\n" + end});
        CHECK(f.failed);
    }
    {  // split byte by byte: the same
        ResponseParser p(limits);
        p.begin(false);
        const std::string over = status + "X: " + std::string(filler + 1, 'b') + "\r\n" + end;
        std::vector<std::string> bytes;
        for (char c : over) bytes.emplace_back(1, c);
        CHECK(feed(p, bytes).failed);
    }
}

TEST_CASE("limits: an endless stream of header lines stops at the limit, consuming little") {
    ResponseParser p;
    p.begin(true);
    Fed f = feed(p, {"HTTP/1.1 200 OK\r\n"});
    const std::string block = [] {
        std::string b;
        for (int i = 0; i < 64; ++i) b += "X-A: " + std::string(58, 'c') + "\r\n";  // 4 KiB
        return b;
    }();
    std::size_t fed = 0;
    std::vector<HttpEvent> evs;
    while (!p.failed() && fed < 400u * 1024 * 1024) {
        p.feed(block, evs);
        fed += block.size();
    }
    CHECK(p.failed());
    CHECK(fed <= 68u * 1024);
}

TEST_CASE("limits: header field count") {
    ResponseParser p;  // default: 128 fields
    p.begin(false);
    std::string head = "HTTP/1.1 200 OK\r\n";
    for (int i = 0; i < 129; ++i) head += "W: " + std::to_string(i) + "\r\n";
    head += "Content-Length: 0\r\n\r\n";
    const Fed f = feed(p, {head});
    CHECK(f.failed);
    CHECK(f.error == "more than 128 response header fields");

    ResponseParser ok;
    ok.begin(false);
    std::string fine = "HTTP/1.1 200 OK\r\n";
    for (int i = 0; i < 127; ++i) fine += "W: " + std::to_string(i) + "\r\n";
    fine += "Content-Length: 0\r\n\r\n";
    CHECK_FALSE(feed(ok, {fine}).failed);
    CHECK(ok.done());
}

TEST_CASE("limits: interim 1xx heads count towards the head limit") {
    ResponseParser p;
    p.begin(false);
    std::vector<std::string> parts;
    for (int i = 0; i < 5000; ++i) parts.push_back("HTTP/1.1 100 Continue\r\nX: y\r\n\r\n");
    const Fed f = feed(p, parts);
    CHECK(f.failed);
    CHECK(f.error.find("response head exceeds") != std::string::npos);
}

TEST_CASE("limits: stray blank lines before the status line count towards the head limit") {
    ResponseParser p;
    p.begin(false);
    std::vector<std::string> parts(40000, "\r\n");
    CHECK(feed(p, parts).failed);
}

TEST_CASE("limits: the trailer section is bounded as a whole") {
    ResponseParser p;
    p.begin(true);
    std::vector<std::string> parts{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"};
    for (int i = 0; i < 100; ++i) parts.push_back("T: " + std::string(1000, 't') + "\r\n");
    parts.push_back("\r\n");
    const Fed f = feed(p, parts);
    CHECK(f.failed);
    CHECK(f.error == "trailer section exceeds the 64 KiB limit");
}

TEST_CASE("limits: chunk-size line (extensions included) and chunk-size digits") {
    const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    {
        ResponseParser p;
        p.begin(true);
        const Fed f = feed(p, {head, "1;" + std::string(2000, 'e') + "\r\n"});
        CHECK(f.failed);
        CHECK(f.error == "chunk size line longer than 1 KiB");
    }
    {
        ResponseParser p;
        p.begin(true);
        CHECK(feed(p, {head, "1000000000000\r\n"}).failed);  // 13 hex digits
    }
    {  // a huge but well-formed chunk size is only a promise: the line cap still applies
        ResponseParser::Limits limits;
        limits.max_line = 1000;
        ResponseParser p(limits);
        p.begin(true);
        const Fed f = feed(p, {head, "ffffffffffff\r\n", std::string(1500, 'z')});
        CHECK(f.failed);
        CHECK(f.error == "watch event line exceeds the 1000 bytes limit");
    }
}

TEST_CASE("limits: default watch line cap is 4 MiB") {
    ResponseParser p;
    p.begin(true);
    const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    const std::string piece(1024 * 1024, 'q');
    std::vector<std::string> parts{head};
    for (int i = 0; i < 5; ++i) parts.push_back(hex(piece.size()) + "\r\n" + piece + "\r\n");
    const Fed f = feed(p, parts);
    CHECK(f.failed);
    CHECK(f.error == "watch event line exceeds the 4 MiB limit");
}

TEST_CASE("limits: a 2xx body over the cap, declared or streamed") {
    ResponseParser::Limits limits;
    limits.max_body = 1000;
    {  // declared: refused before a single body byte is buffered, no Head event
        ResponseParser p(limits);
        p.begin(false);
        const Fed f = feed(p, {"HTTP/1.1 200 OK\r\nContent-Length: 1001\r\n\r\n"});
        CHECK(f.failed);
        CHECK_FALSE(f.head);
        CHECK(f.error == "response body of 1001 bytes (HTTP 200) exceeds the 1000 bytes limit");
    }
    {  // chunked
        ResponseParser p(limits);
        p.begin(false);
        const Fed f =
            feed(p, {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "3e9\r\n", std::string(1001, 'x')});
        CHECK(f.failed);
        CHECK(f.error == "response body (HTTP 200) exceeds the 1000 bytes limit");
    }
    {  // read until close
        ResponseParser p(limits);
        p.begin(false);
        CHECK(feed(p, {"HTTP/1.1 200 OK\r\n\r\n", std::string(600, 'x'), std::string(600, 'x')}).failed);
    }
    {  // at the cap: fine
        ResponseParser p(limits);
        p.begin(false);
        const Fed f = feed(p, {"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", std::string(1000, 'x')});
        CHECK_FALSE(f.failed);
        CHECK(p.done());
    }
}

TEST_CASE("limits: a non-2xx body (a Status) has its own small cap, watch or not") {
    for (bool stream : {false, true}) {
        {
            ResponseParser p;
            p.begin(stream);
            const Fed f = feed(p, {"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 70000\r\n\r\n"});
            CHECK(f.failed);
            CHECK(f.error == "response body of 70000 bytes (HTTP 503) exceeds the 64 KiB limit");
        }
        {
            ResponseParser p;
            p.begin(stream);
            std::vector<std::string> parts{"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n"};
            for (int i = 0; i < 100; ++i) parts.push_back("400\r\n" + std::string(1024, 's') + "\r\n");
            const Fed f = feed(p, parts);
            CHECK(f.failed);
            CHECK(f.error == "response body (HTTP 500) exceeds the 64 KiB limit");
        }
        {  // the same size with a 200 list is fine
            ResponseParser p;
            p.begin(false);
            const Fed f = feed(p, {"HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n", std::string(70000, 'o')});
            CHECK_FALSE(f.failed);
        }
    }
}
