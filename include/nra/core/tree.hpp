// A parsed YAML/JSON document as an owned tree with source positions, so the
// core can interpret configuration without depending on any parser library.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nra {

struct Node {
    enum class Kind { Null, Scalar, Seq, Map };
    Kind kind = Kind::Null;
    std::string scalar;                            // Kind::Scalar
    bool quoted = false;                           // scalar was quoted ('x' or "x")
    std::vector<Node> items;                       // Kind::Seq
    std::vector<std::pair<std::string, Node>> map; // Kind::Map, in document order
    std::size_t line = 0, column = 0;              // 1-based position in the source

    // The destructor is defined in tree.cpp: clang with libstdc++ would
    // otherwise instantiate it while std::pair<std::string, Node> (the map
    // member) is still incomplete, and refuse the header.
    Node() = default;
    Node(const Node&) = default;
    Node(Node&&) noexcept = default;
    Node& operator=(const Node&) = default;
    Node& operator=(Node&&) noexcept = default;
    ~Node();

    bool is_map() const { return kind == Kind::Map; }
    bool is_seq() const { return kind == Kind::Seq; }
    bool is_scalar() const { return kind == Kind::Scalar; }
    bool is_null() const { return kind == Kind::Null; }
    const Node* get(std::string_view key) const;   // map lookup, nullptr if absent
    // "line L column C", or "line L column C (path)" with a path
    std::string where(std::string_view path = {}) const;
};

}  // namespace nra
