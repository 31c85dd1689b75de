#include "nra/kube/http.hpp"

#include "nra/base/text.hpp"

#include <algorithm>
#include <cstring>

namespace nra::kube {

namespace {

// Does a comma-separated header value contain `token` (case-insensitive)?
bool has_token(std::string_view value, std::string_view token) {
    while (!value.empty()) {
        const auto comma = value.find(',');
        if (iequals(trim(value.substr(0, comma)), token)) return true;
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
    return false;
}

std::string_view last_token(std::string_view value) {
    const auto comma = value.rfind(',');
    return trim(comma == std::string_view::npos ? value : value.substr(comma + 1));
}

}  // namespace

std::string_view ResponseHead::header(std::string_view name) const {
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) return v;
    return {};
}

std::vector<std::string_view> ResponseHead::headers_named(std::string_view name) const {
    std::vector<std::string_view> out;
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) out.push_back(v);
    return out;
}

void ResponseParser::begin(bool stream_lines) {
    state_ = State::StatusLine;
    stream_lines_ = stream_lines;
    lines_ = false;
    keep_alive_ = false;
    head_ = ResponseHead{};
    scratch_.clear();
    body_.clear();
    line_.clear();
    remaining_ = 0;
    body_bytes_ = 0;
    head_bytes_ = 0;
    trailer_bytes_ = 0;
}

std::size_t ResponseParser::body_cap() const {
    return head_.status / 100 == 2 ? limits_.max_body : limits_.max_error_body;
}

namespace {
std::string size_text(std::size_t n) {
    if (n % (1024 * 1024) == 0) return std::to_string(n / (1024 * 1024)) + " MiB";
    if (n % 1024 == 0) return std::to_string(n / 1024) + " KiB";
    return std::to_string(n) + " bytes";
}
}  // namespace

// Accumulates one CRLF/LF-terminated line into `line` (without the line end).
bool ResponseParser::take_line(std::string_view data, std::size_t& pos, std::string& line, std::size_t cap,
                               bool& complete) {
    complete = false;
    const char* start = data.data() + pos;
    const std::size_t avail = data.size() - pos;
    const void* nl = std::memchr(start, '\n', avail);
    const std::size_t n = nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - start) : avail;
    if (line.size() + n > cap) return false;
    line.append(start, n);
    pos += n;
    if (nl) {
        ++pos;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        complete = true;
    }
    return true;
}

bool ResponseParser::on_status_line(const std::string& line) {
    // HTTP/1.1 200 OK
    if (line.size() < 12 || line.compare(0, 7, "HTTP/1.") != 0 || line[8] != ' ') return false;
    if (line[7] != '0' && line[7] != '1') return false;
    head_.minor_version = line[7] - '0';
    int status = 0;
    for (int i = 9; i < 12; ++i) {
        if (line[i] < '0' || line[i] > '9') return false;
        status = status * 10 + (line[i] - '0');
    }
    if (line.size() > 12 && line[12] != ' ') return false;
    head_.status = status;
    head_.reason = line.size() > 13 ? line.substr(13) : std::string();
    return true;
}

std::string ResponseParser::on_header_line(const std::string& line, std::vector<HttpEvent>& out) {
    if (line.empty()) {
        if (head_.status >= 100 && head_.status < 200) {  // interim response: the real one follows
            head_ = ResponseHead{};                       // its bytes still count towards the head limit
            state_ = State::StatusLine;
            return {};
        }
        return start_body(out);
    }
    if (line[0] == ' ' || line[0] == '\t') return "malformed response header";  // obsolete line folding
    const auto colon = line.find(':');
    if (colon == std::string::npos || colon == 0) return "malformed response header";
    std::string_view name(line.data(), colon);
    if (name.find_first_of(" \t") != std::string_view::npos) return "malformed response header";
    if (head_.headers.size() >= limits_.max_headers)
        return "more than " + std::to_string(limits_.max_headers) + " response header fields";
    head_.headers.emplace_back(std::string(name), std::string(trim(std::string_view(line).substr(colon + 1))));
    return {};
}

std::string ResponseParser::start_body(std::vector<HttpEvent>& out) {
    const std::string_view connection = head_.header("Connection");
    keep_alive_ = head_.minor_version >= 1 ? !has_token(connection, "close") : has_token(connection, "keep-alive");
    lines_ = stream_lines_ && head_.status / 100 == 2;

    // Framing first: a response with broken framing produces no Head event.
    State next = State::BodyUntilClose;
    std::size_t len = 0;
    const std::string_view te = head_.header("Transfer-Encoding");
    const auto lengths = head_.headers_named("Content-Length");
    if (head_.status == 204 || head_.status == 304) {
        next = State::Done;
    } else if (!te.empty()) {
        next = iequals(last_token(te), "chunked") ? State::ChunkSize : State::BodyUntilClose;
    } else if (!lengths.empty()) {
        bool first = true;
        for (std::string_view v : lengths) {
            if (v.empty() || v.size() > 15) return "malformed Content-Length";
            std::size_t n = 0;
            for (char c : v) {
                if (c < '0' || c > '9') return "malformed Content-Length";
                n = n * 10 + static_cast<std::size_t>(c - '0');
            }
            if (!first && n != len) return "conflicting Content-Length headers";
            len = n;
            first = false;
        }
        if (!lines_ && len > body_cap())
            return "response body of " + std::to_string(len) + " bytes (HTTP " + std::to_string(head_.status) +
                   ") exceeds the " + size_text(body_cap()) + " limit";
        next = len == 0 ? State::Done : State::BodyLength;
    }
    if (next == State::BodyUntilClose) keep_alive_ = false;
    out.push_back({HttpEvent::Kind::Head, {}});
    remaining_ = len;
    if (next == State::Done) {
        complete(out);
    } else {
        state_ = next;
    }
    return {};
}

bool ResponseParser::body_bytes(std::string_view bytes, std::vector<HttpEvent>& out) {
    body_bytes_ += bytes.size();
    if (!lines_) {
        if (body_.size() + bytes.size() > body_cap()) return false;
        body_.append(bytes);
        return true;
    }
    while (!bytes.empty()) {
        const auto nl = bytes.find('\n');
        const std::size_t n = nl == std::string_view::npos ? bytes.size() : nl;
        if (line_.size() + n > limits_.max_line) return false;
        line_.append(bytes.data(), n);
        if (nl == std::string_view::npos) break;
        bytes.remove_prefix(nl + 1);
        if (!trim(line_).empty()) {
            if (!line_.empty() && line_.back() == '\r') line_.pop_back();
            out.push_back({HttpEvent::Kind::Line, std::move(line_)});
        }
        line_.clear();
    }
    return true;
}

void ResponseParser::complete(std::vector<HttpEvent>& out) {
    if (lines_ && !trim(line_).empty()) {
        if (line_.back() == '\r') line_.pop_back();
        out.push_back({HttpEvent::Kind::Line, std::move(line_)});
    }
    line_.clear();
    out.push_back({HttpEvent::Kind::Done, std::move(body_)});
    body_.clear();
    state_ = State::Done;
}

std::string ResponseParser::head_limit_error() const {
    return "response head exceeds the " + size_text(limits_.max_head) + " limit (status line and headers)";
}

std::string ResponseParser::body_limit_error() const {
    if (lines_) return "watch event line exceeds the " + size_text(limits_.max_line) + " limit";
    return "response body (HTTP " + std::to_string(head_.status) + ") exceeds the " + size_text(body_cap()) + " limit";
}

void ResponseParser::fail(std::string why, std::vector<HttpEvent>& out) {
    state_ = State::Failed;
    keep_alive_ = false;
    out.push_back({HttpEvent::Kind::Error, std::move(why)});
}

std::size_t ResponseParser::feed(std::string_view data, std::vector<HttpEvent>& out) {
    std::size_t pos = 0;
    bool complete_line = false;
    while (pos < data.size()) {
        switch (state_) {
        case State::Idle:
        case State::Done:
        case State::Failed:
            return pos;
        case State::StatusLine: {
            const std::size_t from = pos;
            const bool fits = take_line(data, pos, scratch_, limits_.max_head, complete_line);
            head_bytes_ += pos - from;
            if (!fits || head_bytes_ > limits_.max_head) {
                fail(head_limit_error(), out);
                return pos;
            }
            if (!complete_line) break;
            if (scratch_.empty()) break;  // tolerate a stray CRLF before the status line
            if (!on_status_line(scratch_)) {
                fail("malformed status line", out);
                return pos;
            }
            scratch_.clear();
            state_ = State::Headers;
            break;
        }
        case State::Headers: {
            const std::size_t from = pos;
            const bool fits = take_line(data, pos, scratch_, limits_.max_head, complete_line);
            head_bytes_ += pos - from;
            if (!fits || head_bytes_ > limits_.max_head) {
                fail(head_limit_error(), out);
                return pos;
            }
            if (!complete_line) break;
            std::string line = std::move(scratch_);
            scratch_.clear();
            if (std::string error = on_header_line(line, out); !error.empty()) {
                fail(std::move(error), out);
                return pos;
            }
            if (state_ == State::Done) return pos;
            break;
        }
        case State::BodyLength: {
            const std::size_t n = std::min(remaining_, data.size() - pos);
            if (!body_bytes(data.substr(pos, n), out)) {
                fail(body_limit_error(), out);
                return pos;
            }
            pos += n;
            remaining_ -= n;
            if (remaining_ == 0) {
                complete(out);
                return pos;
            }
            break;
        }
        case State::BodyUntilClose:
            if (!body_bytes(data.substr(pos), out)) {
                fail(body_limit_error(), out);
                return pos;
            }
            pos = data.size();
            break;
        case State::ChunkSize: {
            if (!take_line(data, pos, scratch_, limits_.max_chunk_line, complete_line)) {
                fail("chunk size line longer than " + size_text(limits_.max_chunk_line), out);
                return pos;
            }
            if (!complete_line) break;
            std::string_view sv = scratch_;
            sv = trim(sv.substr(0, sv.find(';')));  // chunk extensions are ignored
            std::size_t size = 0;
            bool ok = !sv.empty() && sv.size() <= 12;
            for (char c : sv) {
                int d = (c >= '0' && c <= '9')   ? c - '0'
                        : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                        : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                                 : -1;
                if (d < 0) {
                    ok = false;
                    break;
                }
                size = size * 16 + static_cast<std::size_t>(d);
            }
            scratch_.clear();
            if (!ok) {
                fail("malformed chunk size", out);
                return pos;
            }
            if (size == 0) {
                state_ = State::Trailers;
            } else {
                remaining_ = size;
                state_ = State::ChunkData;
            }
            break;
        }
        case State::ChunkData: {
            const std::size_t n = std::min(remaining_, data.size() - pos);
            if (!body_bytes(data.substr(pos, n), out)) {
                fail(body_limit_error(), out);
                return pos;
            }
            pos += n;
            remaining_ -= n;
            if (remaining_ == 0) state_ = State::ChunkDataEnd;
            break;
        }
        case State::ChunkDataEnd:
            if (!take_line(data, pos, scratch_, 2, complete_line) || (complete_line && !scratch_.empty())) {
                fail("missing CRLF after chunk data", out);
                return pos;
            }
            if (complete_line) state_ = State::ChunkSize;
            break;
        case State::Trailers: {
            const std::size_t from = pos;
            const bool fits = take_line(data, pos, scratch_, limits_.max_trailers, complete_line);
            trailer_bytes_ += pos - from;
            if (!fits || trailer_bytes_ > limits_.max_trailers) {
                fail("trailer section exceeds the " + size_text(limits_.max_trailers) + " limit", out);
                return pos;
            }
            if (!complete_line) break;
            if (scratch_.empty()) {
                complete(out);
                return pos;
            }
            scratch_.clear();  // trailer fields are ignored
            break;
        }
        }
        if (state_ == State::Failed) return pos;
    }
    return pos;
}

void ResponseParser::finish(std::vector<HttpEvent>& out) {
    switch (state_) {
    case State::BodyUntilClose:
        complete(out);
        break;
    case State::Idle:
    case State::Done:
    case State::Failed:
        break;
    case State::StatusLine:
        if (scratch_.empty() && head_.status == 0) {
            fail("connection closed before a response", out);
            break;
        }
        [[fallthrough]];
    default:
        fail("connection closed mid-response", out);
        break;
    }
}

std::string query_escape(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

std::string build_get(std::string_view host_header, std::string_view target, std::string_view bearer_token,
                      std::string_view user_agent, std::string_view extra_headers) {
    std::string r;
    r.reserve(256 + target.size() + bearer_token.size());
    r.append("GET ").append(target).append(" HTTP/1.1\r\nHost: ").append(host_header).append("\r\n");
    if (!bearer_token.empty()) r.append("Authorization: Bearer ").append(bearer_token).append("\r\n");
    r.append(extra_headers);
    r.append("Accept: application/json\r\nUser-Agent: ").append(user_agent).append("\r\n\r\n");
    return r;
}

}  // namespace nra::kube
