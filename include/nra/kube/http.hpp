// HTTP/1.1 response parsing as a pure, incremental component: bytes in,
// events out. No I/O, no allocation beyond the buffers it owns, so it can be
// fed a recorded stream split at every byte position in unit tests.
//
// One parser handles one response at a time (begin() arms it). The body is
// either collected whole (lists, GETs, every non-2xx reply) or, for a watch
// answered with 2xx, de-chunked and split into one event per "\n"-terminated
// line (CR stripped, blank lines skipped): Kubernetes watch framing.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nra::kube {

struct ResponseHead {
    int status = 0;
    std::string reason;
    int minor_version = 1;                                     // HTTP/1.x
    std::vector<std::pair<std::string, std::string>> headers;  // in order, names as sent

    // First value of a header (case-insensitive name), "" if absent.
    std::string_view header(std::string_view name) const;
    // Every value of a header (e.g. repeated Warning headers).
    std::vector<std::string_view> headers_named(std::string_view name) const;
};

struct HttpEvent {
    enum class Kind {
        Head,   // the final (non-1xx) status line and headers are available: head()
        Line,   // streaming mode: one non-blank line of the body, without "\r\n"
        Done,   // the response is complete; data = the whole body (whole mode)
        Error,  // protocol error; data = reason. The connection is unusable.
    };
    Kind kind;
    std::string data;
};

class ResponseParser {
public:
    // Every buffer the server fills is bounded (docs/reliability/kube.md).
    // simdjson needs up to ~14 bytes per input byte, so a document cap of
    // 4 MiB keeps one parse well inside the DaemonSet's memory limit while
    // leaving room for the biggest object etcd stores (1.5 MiB).
    struct Limits {
        std::size_t max_head = 64 * 1024;        // the whole head: status line(s), 1xx heads, headers
        std::size_t max_headers = 128;           // header fields in the head
        std::size_t max_trailers = 64 * 1024;    // the whole trailer section of a chunked body
        std::size_t max_chunk_line = 1024;       // one chunk-size line (with extensions)
        std::size_t max_line = 4 * 1024 * 1024;  // one watch event
        std::size_t max_body = 4 * 1024 * 1024;  // a whole 2xx body (a list page, a GET)
        std::size_t max_error_body = 64 * 1024;  // a whole non-2xx body (a Status)
    };

    ResponseParser() = default;
    explicit ResponseParser(Limits limits) : limits_(limits) {}

    // Arms the parser for the next response. stream_lines: if the status is
    // 2xx, split the body into lines instead of collecting it.
    void begin(bool stream_lines);

    // Consumes bytes, appending events to `out`. Returns the number of bytes
    // consumed: less than data.size() only once the response is Done (the
    // rest belongs to no request we made) or after an Error.
    std::size_t feed(std::string_view data, std::vector<HttpEvent>& out);

    // The peer closed the connection. Completes a read-until-close body;
    // anything else still in progress is an Error.
    void finish(std::vector<HttpEvent>& out);

    const ResponseHead& head() const { return head_; }
    bool head_complete() const { return state_ > State::Headers; }
    bool done() const { return state_ == State::Done; }
    bool failed() const { return state_ == State::Failed; }
    bool idle() const { return state_ == State::Idle; }
    // After Done: whether the connection may carry another request.
    bool keep_alive() const { return keep_alive_; }
    bool streaming() const { return lines_; }
    // Bytes of body received so far (for "did the watch deliver anything").
    std::size_t body_bytes() const { return body_bytes_; }

private:
    enum class State {
        Idle,
        StatusLine,
        Headers,
        BodyLength,
        BodyUntilClose,
        ChunkSize,
        ChunkData,
        ChunkDataEnd,
        Trailers,
        Done,
        Failed,
    };

    bool take_line(std::string_view data, std::size_t& pos, std::string& line, std::size_t cap, bool& complete);
    bool on_status_line(const std::string& line);
    std::string on_header_line(const std::string& line, std::vector<HttpEvent>& out);  // "" = fine, else the error
    std::string start_body(std::vector<HttpEvent>& out);
    std::string head_limit_error() const;
    std::string body_limit_error() const;
    bool body_bytes(std::string_view bytes, std::vector<HttpEvent>& out);
    void complete(std::vector<HttpEvent>& out);
    void fail(std::string why, std::vector<HttpEvent>& out);

    Limits limits_{};
    State state_ = State::Idle;
    bool stream_lines_ = false;
    bool lines_ = false;
    bool keep_alive_ = false;
    ResponseHead head_;
    std::string scratch_;  // partial status/header/chunk-size/trailer line
    std::string body_;     // whole mode
    std::string line_;     // streaming mode: the partial line
    std::size_t remaining_ = 0;
    std::size_t body_bytes_ = 0;
    std::size_t head_bytes_ = 0;     // of the whole head so far
    std::size_t trailer_bytes_ = 0;  // of the trailer section so far
    std::size_t body_cap() const;
};

// Percent-encodes a query component (RFC 3986 unreserved characters kept).
std::string query_escape(std::string_view s);

// "GET target HTTP/1.1" with Host, Accept, User-Agent and optional bearer token.
std::string build_get(std::string_view host_header, std::string_view target, std::string_view bearer_token,
                      std::string_view user_agent, std::string_view extra_headers = {});

}  // namespace nra::kube
