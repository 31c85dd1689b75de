#include "nra/core/tree.hpp"

namespace nra {

const Node* Node::get(std::string_view key) const {
    if (kind != Kind::Map) return nullptr;
    for (const auto& [k, v] : map)
        if (k == key) return &v;
    return nullptr;
}

std::string Node::where() const { return "line " + std::to_string(line) + " column " + std::to_string(column); }

}  // namespace nra
