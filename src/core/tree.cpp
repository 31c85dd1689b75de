#include "nra/core/tree.hpp"

namespace nra {

Node::~Node() = default;

const Node* Node::get(std::string_view key) const {
    if (kind != Kind::Map) return nullptr;
    for (const auto& [k, v] : map)
        if (k == key) return &v;
    return nullptr;
}

std::string Node::where(std::string_view path) const {
    std::string s;  // built in place: a pool may hold thousands of entries
    s.reserve(32 + path.size());
    s.append("line ").append(std::to_string(line)).append(" column ").append(std::to_string(column));
    if (!path.empty()) s.append(" (").append(path).append(")");
    return s;
}

}  // namespace nra
