#include "nra/doc/yaml.hpp"

#include <yaml.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <vector>

namespace nra {

namespace {

using tree_detail::Builder;

constexpr std::size_t kMaxDepth = 64;
// Aliases share the anchored node (no copy), but whoever walks the tree
// walks the anchored subtree once per alias: a "billion laughs" document must
// not make a tiny file cost gigabytes of entries downstream. Real
// configurations rarely use aliases at all; nodes written out in the text are
// bounded by its size.
constexpr std::size_t kMaxAliasNodes = 100'000;
// Maps up to this size look for duplicate keys pairwise; larger ones sort.
constexpr std::size_t kPairwiseKeys = 16;

std::string mark_text(std::size_t line, std::size_t column) {
    return "line " + std::to_string(line) + " column " + std::to_string(column);
}
std::string mark_text(const yaml_mark_t& m) { return mark_text(m.line + 1, m.column + 1); }

// A key as quoted in an error: bounded, and without bytes that would break a log line.
std::string quote_key(std::string_view k) {
    std::string s = "'";
    for (std::size_t i = 0; i < k.size() && i < 64; ++i) {
        const auto c = static_cast<unsigned char>(k[i]);
        s += c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c);
    }
    if (k.size() > 64) s += "...";
    return s + "'";
}

struct Event {
    yaml_event_t ev;
    bool set = false;
    ~Event() {
        if (set) yaml_event_delete(&ev);
    }
};

// Builds the tree straight from libyaml's event stream (no intermediate
// yaml_document_t, no per-container vectors): one arena, 32 bytes a node.
class Parser {
public:
    Parser(yaml_parser_t* p, std::string_view text) : p_(p), text_(text) {}

    Result<Node> run() {
        Node* root = nullptr;
        for (;;) {
            Event e;
            if (!next(e)) return Result<Node>::fail(err_);
            const auto type = e.ev.type;
            if (type == YAML_STREAM_END_EVENT) break;
            if (type == YAML_STREAM_START_EVENT || type == YAML_DOCUMENT_START_EVENT) continue;
            if (type == YAML_DOCUMENT_END_EVENT) break;  // the first document only
            if (root) return Result<Node>::fail(mark_text(e.ev.start_mark) + ": unexpected content");
            std::size_t count = 0;
            root = node(e, 0, count);
            if (!root) return Result<Node>::fail(err_);
        }
        return Result<Node>::ok(b_.finish(root));
    }

private:
    bool next(Event& e) {
        if (!yaml_parser_parse(p_, &e.ev)) {
            if (p_->error == YAML_READER_ERROR) {
                // The reader (encoding) reports a byte offset, not a mark.
                err_ = offset_text(p_->problem_offset) + ": " + (p_->problem ? p_->problem : "invalid input");
                if (p_->problem_value >= 0) {
                    char hex[16];
                    std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned>(p_->problem_value) & 0xffu);
                    err_ += std::string(" (byte ") + hex + ")";
                }
            } else {
                err_ = mark_text(p_->problem_mark) + ": " + (p_->problem ? p_->problem : "invalid YAML");
                if (p_->context) err_ += std::string(" (") + p_->context + ")";
            }
            return false;
        }
        e.set = true;
        return true;
    }

    // "line L column C" of a byte offset into the text (columns count characters).
    std::string offset_text(std::size_t offset) const {
        offset = std::min(offset, text_.size());
        std::size_t line = 1, column = 1;
        for (std::size_t i = 0; i < offset; ++i) {
            const auto c = static_cast<unsigned char>(text_[i]);
            if (c == '\n') {
                ++line;
                column = 1;
            } else if ((c & 0xc0) != 0x80) {
                ++column;
            }
        }
        return mark_text(line, column);
    }

    bool count_alias(const yaml_mark_t& m, std::size_t n) {
        alias_nodes_ += n;
        if (alias_nodes_ <= kMaxAliasNodes) return true;
        err_ = mark_text(m) + ": document too large (aliases expand to more than " + std::to_string(kMaxAliasNodes) +
               " nodes)";
        return false;
    }

    static const char* anchor_of(const yaml_event_t& ev) {
        switch (ev.type) {
        case YAML_SCALAR_EVENT:
            return reinterpret_cast<const char*>(ev.data.scalar.anchor);
        case YAML_SEQUENCE_START_EVENT:
            return reinterpret_cast<const char*>(ev.data.sequence_start.anchor);
        case YAML_MAPPING_START_EVENT:
            return reinterpret_cast<const char*>(ev.data.mapping_start.anchor);
        default:
            return nullptr;
        }
    }

    // One node from event `e` (already read), children recursively; `count`
    // receives the number of nodes it stands for (aliases expanded).
    Node* node(Event& e, std::size_t depth, std::size_t& count) {
        const yaml_event_t& ev = e.ev;
        const std::size_t line = ev.start_mark.line + 1, column = ev.start_mark.column + 1;
        if (depth > kMaxDepth) {
            err_ = mark_text(line, column) + ": nesting too deep";
            return nullptr;
        }
        Node* out = nullptr;
        count = 1;
        switch (ev.type) {
        case YAML_ALIAS_EVENT: {
            const auto it = anchors_.find(reinterpret_cast<const char*>(ev.data.alias.anchor));
            if (it == anchors_.end()) {
                err_ = mark_text(line, column) + ": found undefined alias";
                return nullptr;
            }
            if (!count_alias(ev.start_mark, it->second.second)) return nullptr;
            count = it->second.second;
            return b_.alias(*it->second.first, line, column);
        }
        case YAML_SCALAR_EVENT: {
            const std::string_view v(reinterpret_cast<const char*>(ev.data.scalar.value), ev.data.scalar.length);
            const auto style = ev.data.scalar.style;
            const bool quoted = style == YAML_SINGLE_QUOTED_SCALAR_STYLE || style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
            if (!quoted && style == YAML_PLAIN_SCALAR_STYLE &&
                (v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL"))
                out = b_.node(Node::Kind::Null, line, column);
            else
                out = b_.scalar(v, quoted, line, column);
            break;
        }
        case YAML_SEQUENCE_START_EVENT: {
            out = b_.node(Node::Kind::Seq, line, column);
            Node* tail = nullptr;
            for (;;) {
                Event c;
                if (!next(c)) return nullptr;
                if (c.ev.type == YAML_SEQUENCE_END_EVENT) break;
                std::size_t n = 0;
                Node* child = node(c, depth + 1, n);
                if (!child) return nullptr;
                if (out->items.size() == UINT32_MAX) return too_many(line, column);
                Builder::append(*out, tail, child);
                count += n;
            }
            break;
        }
        case YAML_MAPPING_START_EVENT: {
            out = b_.node(Node::Kind::Map, line, column);
            Node* tail = nullptr;
            for (;;) {
                Event k;
                if (!next(k)) return nullptr;
                if (k.ev.type == YAML_MAPPING_END_EVENT) break;
                Node* key = nullptr;
                const std::size_t kl = k.ev.start_mark.line + 1, kc = k.ev.start_mark.column + 1;
                if (k.ev.type == YAML_SCALAR_EVENT) {
                    key = b_.scalar({reinterpret_cast<const char*>(k.ev.data.scalar.value), k.ev.data.scalar.length},
                                    false, kl, kc);
                } else if (k.ev.type == YAML_ALIAS_EVENT) {
                    std::size_t n = 0;  // an alias to a scalar is a scalar key too
                    Node* a = node(k, depth + 1, n);
                    if (!a) return nullptr;
                    if (!a->is_scalar()) return keys_must_be_scalars(k);
                    key = a;
                } else {
                    return keys_must_be_scalars(k);
                }
                Event v;
                if (!next(v)) return nullptr;
                std::size_t n = 0;
                Node* value = node(v, depth + 1, n);
                if (!value) return nullptr;
                if (out->map.size() == UINT32_MAX) return too_many(line, column);
                Builder::append(*out, tail, key);
                Builder::append(*out, tail, value);
                Builder::count_entry(*out);
                count += 1 + n;
            }
            if (!unique_keys(*out)) return nullptr;
            break;
        }
        default:
            err_ = mark_text(line, column) + ": unexpected YAML event";
            return nullptr;
        }
        if (const char* anchor = anchor_of(ev)) anchors_[anchor] = {out, count};
        return out;
    }

    Node* keys_must_be_scalars(const Event& k) {
        err_ = mark_text(k.ev.start_mark) + ": mapping keys must be scalars";
        return nullptr;
    }

    Node* too_many(std::size_t line, std::size_t column) {
        err_ = mark_text(line, column) + ": too many entries";
        return nullptr;
    }

    // Duplicate keys are refused, as MetalLB's strict parser does: naming
    // the key, where it repeats and where it first appeared.
    bool unique_keys(const Node& map) {
        std::vector<const Node*> keys;
        keys.reserve(map.map.size());
        for (auto it = map.map.begin(); it != map.map.end(); ++it) keys.push_back(&it.key_node());
        auto before = [](const Node* a, const Node* b) {
            return a->line() != b->line() ? a->line() < b->line() : a->column() < b->column();
        };
        const Node* first = nullptr;
        const Node* again = nullptr;
        if (keys.size() <= kPairwiseKeys) {
            for (std::size_t i = 0; i < keys.size() && !again; ++i)
                for (std::size_t j = 0; j < i; ++j)
                    if (keys[i]->scalar.view() == keys[j]->scalar.view()) {
                        first = keys[j], again = keys[i];
                        break;
                    }
        } else {
            std::stable_sort(keys.begin(), keys.end(),
                             [](const Node* a, const Node* b) { return a->scalar.view() < b->scalar.view(); });
            for (std::size_t i = 1; i < keys.size(); ++i) {
                if (keys[i]->scalar.view() != keys[i - 1]->scalar.view()) continue;
                // the earliest repetition in the document is the one reported
                if (!again || before(keys[i], again)) first = keys[i - 1], again = keys[i];
            }
        }
        if (!again) return true;
        err_ = again->where() + ": duplicate key " + quote_key(again->scalar.view()) + " in a mapping (first at " +
               first->where() + ")";
        return false;
    }

    yaml_parser_t* p_;
    std::string_view text_;
    Builder b_;
    std::string err_;
    std::size_t alias_nodes_ = 0;
    std::map<std::string, std::pair<const Node*, std::size_t>> anchors_;
};

}  // namespace

Result<Node> parse_yaml(std::string_view text) {
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return Result<Node>::fail("cannot initialise the YAML parser");
    std::unique_ptr<yaml_parser_t, void (*)(yaml_parser_t*)> guard(&parser, yaml_parser_delete);
    yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()), text.size());
    return Parser(&parser, text).run();
}

}  // namespace nra
