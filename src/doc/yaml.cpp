#include "nra/doc/yaml.hpp"

#include <yaml.h>

#include <map>
#include <memory>

namespace nra {

namespace {

constexpr std::size_t kMaxDepth = 64;
// Aliases are expanded into copies: a "billion laughs" document must not be
// able to make a tiny file take gigabytes. Real configurations rarely use
// aliases at all; nodes written out in the text are bounded by its size.
constexpr std::size_t kMaxAliasNodes = 100'000;

std::string mark_text(const yaml_mark_t& m) {
    return "line " + std::to_string(m.line + 1) + " column " + std::to_string(m.column + 1);
}

struct Event {
    yaml_event_t ev;
    bool set = false;
    ~Event() {
        if (set) yaml_event_delete(&ev);
    }
};

std::size_t count_nodes(const Node& n) {
    std::size_t c = 1;
    for (const Node& i : n.items) c += count_nodes(i);
    for (const auto& kv : n.map) c += count_nodes(kv.second);
    return c;
}

// Builds the Node tree straight from libyaml's event stream (no intermediate
// yaml_document_t): the configuration of thousands of pools is parsed on
// every change, so one tree instead of two matters.
class Builder {
public:
    explicit Builder(yaml_parser_t* p) : p_(p) {}

    Result<Node> run() {
        Node root;
        bool have_root = false;
        for (;;) {
            Event e;
            if (!next(e)) return Result<Node>::fail(err_);
            const auto type = e.ev.type;
            if (type == YAML_STREAM_END_EVENT) break;
            if (type == YAML_STREAM_START_EVENT || type == YAML_DOCUMENT_START_EVENT) continue;
            if (type == YAML_DOCUMENT_END_EVENT) break;  // the first document only
            if (have_root) return Result<Node>::fail(mark_text(e.ev.start_mark) + ": unexpected content");
            if (!node(e, root, 0)) return Result<Node>::fail(err_);
            have_root = true;
        }
        return Result<Node>::ok(std::move(root));
    }

private:
    bool next(Event& e) {
        if (!yaml_parser_parse(p_, &e.ev)) {
            err_ = mark_text(p_->problem_mark) + ": " + (p_->problem ? p_->problem : "invalid YAML");
            if (p_->context) err_ += std::string(" (") + p_->context + ")";
            return false;
        }
        e.set = true;
        return true;
    }

    bool count_alias(const yaml_mark_t& m, std::size_t n) {
        alias_nodes_ += n;
        if (alias_nodes_ <= kMaxAliasNodes) return true;
        err_ = mark_text(m) + ": document too large (aliases expand to more than " + std::to_string(kMaxAliasNodes) + " nodes)";
        return false;
    }

    static const char* anchor_of(const yaml_event_t& ev) {
        switch (ev.type) {
            case YAML_SCALAR_EVENT: return reinterpret_cast<const char*>(ev.data.scalar.anchor);
            case YAML_SEQUENCE_START_EVENT: return reinterpret_cast<const char*>(ev.data.sequence_start.anchor);
            case YAML_MAPPING_START_EVENT: return reinterpret_cast<const char*>(ev.data.mapping_start.anchor);
            default: return nullptr;
        }
    }

    // One node from event `e` (already read) into `out`, children recursively.
    bool node(Event& e, Node& out, std::size_t depth) {
        const yaml_event_t& ev = e.ev;
        out.line = ev.start_mark.line + 1;
        out.column = ev.start_mark.column + 1;
        if (depth > kMaxDepth) {
            err_ = out.where() + ": nesting too deep";
            return false;
        }
        const char* anchor = anchor_of(ev);
        switch (ev.type) {
            case YAML_ALIAS_EVENT: {
                const auto it = anchors_.find(reinterpret_cast<const char*>(ev.data.alias.anchor));
                if (it == anchors_.end()) {
                    err_ = out.where() + ": found undefined alias";
                    return false;
                }
                if (!count_alias(ev.start_mark, it->second.second)) return false;
                const auto line = out.line, column = out.column;
                out = it->second.first;
                out.line = line, out.column = column;
                return true;
            }
            case YAML_SCALAR_EVENT: {
                std::string v(reinterpret_cast<const char*>(ev.data.scalar.value), ev.data.scalar.length);
                const auto style = ev.data.scalar.style;
                out.quoted = style == YAML_SINGLE_QUOTED_SCALAR_STYLE || style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
                if (!out.quoted && style == YAML_PLAIN_SCALAR_STYLE && (v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL")) {
                    out.kind = Node::Kind::Null;
                } else {
                    out.kind = Node::Kind::Scalar;
                    out.scalar = std::move(v);
                }
                break;
            }
            case YAML_SEQUENCE_START_EVENT: {
                out.kind = Node::Kind::Seq;
                for (;;) {
                    Event c;
                    if (!next(c)) return false;
                    if (c.ev.type == YAML_SEQUENCE_END_EVENT) break;
                    out.items.emplace_back();
                    if (!node(c, out.items.back(), depth + 1)) return false;
                }
                break;
            }
            case YAML_MAPPING_START_EVENT: {
                out.kind = Node::Kind::Map;
                for (;;) {
                    Event k;
                    if (!next(k)) return false;
                    if (k.ev.type == YAML_MAPPING_END_EVENT) break;
                    std::string key;
                    if (k.ev.type == YAML_SCALAR_EVENT) {
                        key.assign(reinterpret_cast<const char*>(k.ev.data.scalar.value), k.ev.data.scalar.length);
                    } else {
                        Node kn;  // an alias to a scalar is a scalar key too
                        if (!node(k, kn, depth + 1)) return false;
                        if (!kn.is_scalar()) {
                            err_ = mark_text(k.ev.start_mark) + ": mapping keys must be scalars";
                            return false;
                        }
                        key = std::move(kn.scalar);
                    }
                    Event v;
                    if (!next(v)) return false;
                    out.map.emplace_back(std::move(key), Node{});
                    if (!node(v, out.map.back().second, depth + 1)) return false;
                }
                break;
            }
            default:
                err_ = out.where() + ": unexpected YAML event";
                return false;
        }
        if (anchor) anchors_[anchor] = {out, count_nodes(out)};
        return true;
    }

    yaml_parser_t* p_;
    std::string err_;
    std::size_t alias_nodes_ = 0;
    std::map<std::string, std::pair<Node, std::size_t>> anchors_;
};

}  // namespace

Result<Node> parse_yaml(std::string_view text) {
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return Result<Node>::fail("cannot initialise the YAML parser");
    std::unique_ptr<yaml_parser_t, void (*)(yaml_parser_t*)> guard(&parser, yaml_parser_delete);
    yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()), text.size());
    return Builder(&parser).run();
}

}  // namespace nra
