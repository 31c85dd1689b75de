#include <catch2/catch.hpp>

#include "nra/kube/http.hpp"

using namespace nra::kube;

namespace {

// A compact rendering of the events, for comparing feeds split differently.
std::string render(const std::vector<HttpEvent>& evs, const ResponseParser& p) {
    std::string s;
    for (const auto& e : evs) {
        switch (e.kind) {
        case HttpEvent::Kind::Head:
            s += "H" + std::to_string(p.head().status) + ";";
            break;
        case HttpEvent::Kind::Line:
            s += "L[" + e.data + "];";
            break;
        case HttpEvent::Kind::Done:
            s += "D[" + e.data + "];";
            break;
        case HttpEvent::Kind::Error:
            s += "E;";
            break;
        }
    }
    return s;
}

std::string feed_parts(const std::vector<std::string_view>& parts, bool stream, bool eof = false,
                       ResponseParser::Limits limits = {}) {
    ResponseParser p(limits);
    p.begin(stream);
    std::vector<HttpEvent> evs;
    for (auto part : parts) p.feed(part, evs);
    if (eof) p.finish(evs);
    return render(evs, p);
}

const std::string kWatch =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: application/json\r\n"
    "Transfer-Encoding: chunked\r\n"
    "\r\n"
    "1a;ext=1\r\n"
    "{\"type\":\"ADDED\",\"n\":\"\xc3\xa9\"}\n\r\n"  // 25 bytes of event + 1 newline = 0x1a
    "3\r\n"
    "{\"t\r\n"
    "2B\r\n"
    "ype\":\"MODIFIED\"}\r\n"  // CRLF line ending
    "\n"                       // blank line: skipped
    "{\"type\":\"BOOKMARK\"}\n"
    "   \n"  // whitespace-only line: skipped
    "\r\n"
    "0\r\n"
    "X-Trailer: yes\r\n"
    "\r\n";

}  // namespace

TEST_CASE("watch stream: chunks, extensions, trailers, CRLF and blank lines") {
    const std::string expected =
        "H200;L[{\"type\":\"ADDED\",\"n\":\"\xc3\xa9\"}];L[{\"type\":\"MODIFIED\"}];L[{\"type\":\"BOOKMARK\"}];D[];";
    CHECK(feed_parts({kWatch}, true) == expected);
}

TEST_CASE("watch stream split at every position gives the same events") {
    const std::string whole = feed_parts({kWatch}, true);
    for (std::size_t i = 0; i <= kWatch.size(); ++i) {
        std::string_view s(kWatch);
        INFO("split at " << i);
        CHECK(feed_parts({s.substr(0, i), s.substr(i)}, true) == whole);
    }
    for (std::size_t i = 0; i < kWatch.size(); i += 7) {
        for (std::size_t j = i; j <= kWatch.size(); j += 5) {
            std::string_view s(kWatch);
            INFO("split at " << i << " and " << j);
            CHECK(feed_parts({s.substr(0, i), s.substr(i, j - i), s.substr(j)}, true) == whole);
        }
    }
    std::vector<std::string_view> bytes;
    for (std::size_t i = 0; i < kWatch.size(); ++i) bytes.push_back(std::string_view(kWatch).substr(i, 1));
    CHECK(feed_parts(bytes, true) == whole);
}

TEST_CASE("several events in one chunk, one event over many chunks") {
    std::string body = "{\"a\":1}\n{\"b\":2}\n{\"c\":";
    std::string stream = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    char size[16];
    std::snprintf(size, sizeof size, "%zx\r\n", body.size());
    stream += size + body + "\r\n";
    for (char c : std::string("3}\n")) stream += std::string("1\r\n") + c + "\r\n";
    stream += "0\r\n\r\n";
    CHECK(feed_parts({stream}, true) == "H200;L[{\"a\":1}];L[{\"b\":2}];L[{\"c\":3}];D[];");
}

TEST_CASE("a non-2xx watch reply is collected whole") {
    const std::string r =
        "HTTP/1.1 410 Gone\r\nContent-Type: application/json\r\nContent-Length: "
        "24\r\n\r\n{\"kind\":\"Status\",\n\"c\":1}";
    CHECK(feed_parts({r}, true) == "H410;D[{\"kind\":\"Status\",\n\"c\":1}];");
}

TEST_CASE("Content-Length list body split at every position; keep-alive and leftovers") {
    const std::string r = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"items\":1}";
    const std::string whole = feed_parts({r}, false);
    CHECK(whole == "H200;D[{\"items\":1}];");
    for (std::size_t i = 0; i <= r.size(); ++i) {
        std::string_view s(r);
        CHECK(feed_parts({s.substr(0, i), s.substr(i)}, false) == whole);
    }
    ResponseParser p;
    p.begin(false);
    std::vector<HttpEvent> evs;
    const std::string two = r + "HTTP/1.1 200";
    CHECK(p.feed(two, evs) == r.size());
    CHECK(p.done());
    CHECK(p.keep_alive());
}

TEST_CASE("chunked list body, Connection: close, read-until-close") {
    CHECK(
        feed_parts({"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\nabcd\r\n0\r\n\r\n"},
                   false) == "H200;D[abcd];");
    ResponseParser p;
    p.begin(false);
    std::vector<HttpEvent> evs;
    p.feed("HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n", evs);
    CHECK(p.done());
    CHECK_FALSE(p.keep_alive());
    CHECK(feed_parts({"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/html\r\n\r\n<html>x</html>"}, false,
                     true) == "H503;D[<html>x</html>];");
    CHECK(feed_parts({"HTTP/1.1 204 No Content\r\n\r\n"}, false) == "H204;D[];");
}

TEST_CASE("connection closed mid-response is an error, never a complete body") {
    CHECK(feed_parts({"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"}, false, true) == "H200;E;");
    CHECK(feed_parts({"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":"}, true, true) == "H200;E;");
    // A complete line before the cut is delivered; the partial one is not.
    CHECK(feed_parts({"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n{\"a\":1}\n{\r\n"}, true, true) ==
          "H200;L[{\"a\":1}];E;");
    CHECK(feed_parts({""}, false, true) == "E;");
    CHECK(feed_parts({"HTTP/1.1 200 OK\r\nContent-"}, false, true) == "E;");
}

TEST_CASE("malformed responses") {
    CHECK(feed_parts({"HTTP/2 200\r\n\r\n"}, false) == "E;");
    CHECK(feed_parts({"HTTP/1.1 abc OK\r\n\r\n"}, false) == "E;");
    CHECK(feed_parts({"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"}, false) == "E;");
    CHECK(feed_parts({"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"}, true) == "H200;E;");
    CHECK(feed_parts({"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n"}, true) == "H200;E;");
    CHECK(feed_parts({"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"}, false) == "E;");
    CHECK(feed_parts({"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"}, false) == "E;");
}

TEST_CASE("a watch line over the cap is an error; a big line under it is fine") {
    ResponseParser::Limits limits;
    limits.max_line = 1000;
    std::string big(900, 'x');
    std::string stream = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    char size[16];
    std::snprintf(size, sizeof size, "%zx\r\n", big.size() + 1);
    stream += size + big + "\n\r\n";
    CHECK(feed_parts({stream, "0\r\n\r\n"}, true, false, limits) == "H200;L[" + big + "];D[];");
    std::string huge(1500, 'y');
    std::snprintf(size, sizeof size, "%zx\r\n", huge.size());
    CHECK(feed_parts({"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", size + huge + "\r\n"}, true, false,
                     limits) == "H200;E;");
}

TEST_CASE("request building and query escaping") {
    CHECK(query_escape("metadata.name=config") == "metadata.name%3Dconfig");
    CHECK(query_escape("a b/c~") == "a%20b%2Fc~");
    const std::string r = build_get("[::1]:6443", "/api/v1/nodes?watch=1", "tok", "ua");
    CHECK(r ==
          "GET /api/v1/nodes?watch=1 HTTP/1.1\r\nHost: [::1]:6443\r\nAuthorization: Bearer tok\r\n"
          "Accept: application/json\r\nUser-Agent: ua\r\n\r\n");
    CHECK(build_get("h", "/", "", "ua").find("Authorization") == std::string::npos);
}
