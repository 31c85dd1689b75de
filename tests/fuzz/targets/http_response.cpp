// libFuzzer target: the HTTP/1.1 response parser (src/kube/http.cpp) fed a
// server's bytes in arbitrary splits.
//
// Input: byte 0 = mode (bit 0: watch, i.e. stream lines; bit 1: small limits),
// byte 1 = split seed, the rest = what the server sent. The bytes are fed
// once whole and once in pieces whose sizes come from the seed (1..64 bytes);
// both runs must produce the same events (the parser is incremental: a split
// never changes the result) and, for a complete response, consume the same
// bytes; every event must respect the limits.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "nra/kube/http.hpp"

namespace {

using nra::kube::HttpEvent;
using nra::kube::ResponseParser;

struct Run {
    std::vector<HttpEvent> events;
    std::size_t consumed = 0;
};

// Feeds `data` (split into `pieces`) like the connection does: stop at the
// first piece not consumed whole (Done or Error), then finish() on EOF.
Run run(ResponseParser::Limits limits, bool watch, std::string_view data, const std::vector<std::size_t>& pieces) {
    ResponseParser p(limits);
    p.begin(watch);
    Run r;
    std::size_t pos = 0;
    for (std::size_t n : pieces) {
        const std::string_view piece = data.substr(pos, n);
        const std::size_t used = p.feed(piece, r.events);
        if (used > piece.size()) std::abort();
        r.consumed += used;
        pos += piece.size();
        if (used < piece.size()) break;
    }
    if (!p.done() && !p.failed()) p.finish(r.events);
    if (!p.done() && !p.failed()) std::abort();  // EOF always ends a response
    return r;
}

// Same events; the same bytes consumed when the response completed (what is
// left belongs to the next response on a kept-alive connection; after an
// Error the connection is closed and the count means nothing).
bool same(const Run& a, const Run& b) {
    if (a.events.size() != b.events.size()) return false;
    if (!a.events.empty() && a.events.back().kind == HttpEvent::Kind::Done && a.consumed != b.consumed) return false;
    for (std::size_t i = 0; i < a.events.size(); ++i)
        if (a.events[i].kind != b.events[i].kind || a.events[i].data != b.events[i].data) return false;
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const bool watch = data[0] & 1;
    ResponseParser::Limits limits;
    if (data[0] & 2) {
        limits.max_head = 256;
        limits.max_line = 64;
        limits.max_body = 512;
        limits.max_error_body = 256;
    }
    std::uint32_t seed = data[1] * 2654435761u + 1;
    const std::string_view bytes(reinterpret_cast<const char*>(data) + 2, size - 2);

    const Run whole = run(limits, watch, bytes, {bytes.size()});
    std::vector<std::size_t> pieces;
    for (std::size_t left = bytes.size(); left > 0;) {
        seed = seed * 1103515245u + 12345u;
        const std::size_t n = std::min<std::size_t>(left, 1 + (seed >> 16) % 64);
        pieces.push_back(n);
        left -= n;
    }
    const Run split = run(limits, watch, bytes, pieces);
    if (!same(whole, split)) std::abort();

    int heads = 0, ends = 0;
    for (const HttpEvent& e : whole.events) {
        switch (e.kind) {
        case HttpEvent::Kind::Head:
            ++heads;
            break;
        case HttpEvent::Kind::Line:
            if (e.data.empty() || e.data.size() > limits.max_line || e.data.find('\n') != std::string::npos)
                std::abort();
            break;
        case HttpEvent::Kind::Done:
            // A 2xx body within max_body, any other within max_error_body.
            if (e.data.size() > std::max(limits.max_body, limits.max_error_body)) std::abort();
            ++ends;
            break;
        case HttpEvent::Kind::Error:
            ++ends;
            break;
        }
    }
    if (heads > 1 || ends != 1 || whole.events.back().kind == HttpEvent::Kind::Head) std::abort();
    return 0;
}
