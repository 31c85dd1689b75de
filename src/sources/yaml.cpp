#include "nra/sources/yaml.hpp"

#include <yaml.h>

#include <memory>

namespace nra {

namespace {

constexpr int kMaxDepth = 64;

struct Document {
    yaml_document_t doc;
    bool loaded = false;
    ~Document() {
        if (loaded) yaml_document_delete(&doc);
    }
};

bool convert(yaml_document_t* doc, yaml_node_t* n, Node& out, int depth, std::string& err) {
    out.line = n->start_mark.line + 1;
    out.column = n->start_mark.column + 1;
    if (depth > kMaxDepth) {
        err = out.where() + ": nesting too deep";
        return false;
    }
    switch (n->type) {
        case YAML_SCALAR_NODE: {
            std::string v(reinterpret_cast<const char*>(n->data.scalar.value), n->data.scalar.length);
            const auto style = n->data.scalar.style;
            out.quoted = style == YAML_SINGLE_QUOTED_SCALAR_STYLE || style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
            if (!out.quoted && style == YAML_PLAIN_SCALAR_STYLE && (v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL")) {
                out.kind = Node::Kind::Null;
            } else {
                out.kind = Node::Kind::Scalar;
                out.scalar = std::move(v);
            }
            return true;
        }
        case YAML_SEQUENCE_NODE:
            out.kind = Node::Kind::Seq;
            for (auto* it = n->data.sequence.items.start; it < n->data.sequence.items.top; ++it) {
                Node child;
                if (!convert(doc, yaml_document_get_node(doc, *it), child, depth + 1, err)) return false;
                out.items.push_back(std::move(child));
            }
            return true;
        case YAML_MAPPING_NODE:
            out.kind = Node::Kind::Map;
            for (auto* p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; ++p) {
                yaml_node_t* k = yaml_document_get_node(doc, p->key);
                if (!k || k->type != YAML_SCALAR_NODE) {
                    err = "line " + std::to_string(k ? k->start_mark.line + 1 : out.line) + ": mapping keys must be scalars";
                    return false;
                }
                Node child;
                if (!convert(doc, yaml_document_get_node(doc, p->value), child, depth + 1, err)) return false;
                out.map.emplace_back(std::string(reinterpret_cast<const char*>(k->data.scalar.value), k->data.scalar.length),
                                     std::move(child));
            }
            return true;
        case YAML_NO_NODE:
            break;
    }
    out.kind = Node::Kind::Null;
    return true;
}

}  // namespace

Parsed<Node> parse_yaml(std::string_view text) {
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return Parsed<Node>::fail("cannot initialise the YAML parser");
    std::unique_ptr<yaml_parser_t, void (*)(yaml_parser_t*)> guard(&parser, yaml_parser_delete);
    yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()), text.size());
    Document d;
    if (!yaml_parser_load(&parser, &d.doc)) {
        const auto& m = parser.problem_mark;
        std::string msg = "line " + std::to_string(m.line + 1) + " column " + std::to_string(m.column + 1) + ": " +
                          (parser.problem ? parser.problem : "invalid YAML");
        if (parser.context) msg += std::string(" (") + parser.context + ")";
        return Parsed<Node>::fail(msg);
    }
    d.loaded = true;
    yaml_node_t* root = yaml_document_get_root_node(&d.doc);
    Node out;
    if (!root) return Parsed<Node>::ok(out);
    std::string err;
    if (!convert(&d.doc, root, out, 0, err)) return Parsed<Node>::fail(err);
    return Parsed<Node>::ok(std::move(out));
}

}  // namespace nra
