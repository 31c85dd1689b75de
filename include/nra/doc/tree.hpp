// A parsed YAML/JSON document as a compact tree with source positions, so the
// core can interpret configuration without depending on any parser library.
//
// Memory: every node is 32 bytes and lives with its scalar bytes in one arena
// owned by the root (the Node a parser returns). Children form a singly
// linked list (no per-container vector, no copy when a container closes); a
// mapping's list alternates key and value nodes. Nodes are shared, not
// copied: an alias is a 32-byte header pointing at the anchored node's
// children. A child Node (a reference or a copy) is valid only while the
// root that owns its arena lives; moving the root keeps every child where it is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>

namespace nra {

struct Node;
enum class NodeKind : std::uint8_t { Null, Scalar, Seq, Map };

namespace tree_detail {

struct Arena;

// The fields every view of a node shares (the node's storage).
#define NRA_NODE_FIELDS                                                                         \
    NodeKind kind_;                                                                             \
    std::uint8_t flags_; /* bit 0: quoted scalar; bit 1: root owning the arena held in next_ */ \
    std::uint16_t unused_;                                                                      \
    std::uint32_t line_, column_;                                                               \
    std::uint32_t size_; /* scalar bytes, seq items or map entries */                           \
    const void* data_;   /* scalar bytes, or the first child */                                 \
    const void* next_    /* next sibling (or the arena, for an owning root) */

struct Fields {
    NRA_NODE_FIELDS;
};

// node.scalar: the text of a scalar, "" for any other kind.
struct ScalarView {
    NRA_NODE_FIELDS;
    std::string_view view() const {
        return kind_ == NodeKind::Scalar ? std::string_view(static_cast<const char*>(data_), size_)
                                         : std::string_view();
    }
    std::string str() const { return std::string(view()); }
    operator std::string() const { return str(); }
    bool empty() const { return view().empty(); }
    std::size_t size() const { return view().size(); }
    friend bool operator==(const ScalarView& a, std::string_view b) { return a.view() == b; }
};

// node.items: a sequence's items in order (empty for any other kind).
struct ItemsView {
    NRA_NODE_FIELDS;
    class iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = Node;
        using difference_type = std::ptrdiff_t;
        using pointer = const Node*;
        using reference = const Node&;
        iterator() = default;
        explicit iterator(const Node* n) : n_(n) {}
        const Node& operator*() const { return *n_; }
        const Node* operator->() const { return n_; }
        iterator& operator++();
        iterator operator++(int) {
            iterator t = *this;
            ++*this;
            return t;
        }
        bool operator==(const iterator& o) const { return n_ == o.n_; }

    private:
        const Node* n_ = nullptr;
    };
    iterator begin() const { return iterator(kind_ == NodeKind::Seq ? static_cast<const Node*>(data_) : nullptr); }
    iterator end() const { return iterator(); }
    std::size_t size() const { return kind_ == NodeKind::Seq ? size_ : 0; }
    bool empty() const { return size() == 0; }
};

// node.map: a mapping's (key, value) entries in document order (empty for
// any other kind). Keys are unique (the parser refuses duplicates).
struct MapView {
    NRA_NODE_FIELDS;
    class iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = std::pair<std::string_view, const Node&>;
        using difference_type = std::ptrdiff_t;
        using reference = value_type;
        iterator() = default;
        explicit iterator(const Node* key) : k_(key) {}
        value_type operator*() const;
        const Node& key_node() const { return *k_; }  // the key itself (its position)
        iterator& operator++();
        iterator operator++(int) {
            iterator t = *this;
            ++*this;
            return t;
        }
        bool operator==(const iterator& o) const { return k_ == o.k_; }

    private:
        const Node* k_ = nullptr;
    };
    iterator begin() const { return iterator(kind_ == NodeKind::Map ? static_cast<const Node*>(data_) : nullptr); }
    iterator end() const { return iterator(); }
    std::size_t size() const { return kind_ == NodeKind::Map ? size_ : 0; }
    bool empty() const { return size() == 0; }
};

class Builder;

}  // namespace tree_detail

struct Node {
    using Kind = NodeKind;

    // Every view shares the same storage (their common initial sequence);
    // each checks the kind before reading, so a view of another kind is empty.
    union {
        tree_detail::Fields f_;
        tree_detail::ScalarView scalar;  // Kind::Scalar: the text ("" otherwise)
        tree_detail::ItemsView items;    // Kind::Seq: the items (none otherwise)
        tree_detail::MapView map;        // Kind::Map: the entries (none otherwise)
    };

    Node() : f_{NodeKind::Null, 0, 0, 0, 0, 0, nullptr, nullptr} {}
    Node(const Node& o);
    Node(Node&& o) noexcept;
    Node& operator=(const Node& o);
    Node& operator=(Node&& o) noexcept;
    ~Node();

    Kind kind() const { return f_.kind_; }
    bool is_map() const { return f_.kind_ == Kind::Map; }
    bool is_seq() const { return f_.kind_ == Kind::Seq; }
    bool is_scalar() const { return f_.kind_ == Kind::Scalar; }
    bool is_null() const { return f_.kind_ == Kind::Null; }
    bool quoted() const { return f_.flags_ & kQuoted; }  // a scalar written 'x' or "x"
    std::size_t line() const { return f_.line_; }        // 1-based position in the source
    std::size_t column() const { return f_.column_; }
    const Node* get(std::string_view key) const;  // map lookup, nullptr if absent
    // "line L column C", or "line L column C (path)" with a path
    std::string where(std::string_view path = {}) const;

private:
    friend class tree_detail::Builder;
    friend struct tree_detail::ItemsView;
    friend struct tree_detail::MapView;
    static constexpr std::uint8_t kQuoted = 1, kOwner = 2;
    const Node* next() const { return (f_.flags_ & kOwner) ? nullptr : static_cast<const Node*>(f_.next_); }
    void release();
};

static_assert(sizeof(Node) == 32, "a node is 32 bytes: the tree's memory is counted in them");

namespace tree_detail {

inline ItemsView::iterator& ItemsView::iterator::operator++() {
    n_ = n_->next();
    return *this;
}
inline MapView::iterator::value_type MapView::iterator::operator*() const {
    const Node* v = k_->next();
    return {k_->scalar.view(), *v};
}
inline MapView::iterator& MapView::iterator::operator++() {
    k_ = k_->next()->next();
    return *this;
}

// Allocation for a tree being built: bump-allocated blocks, freed at once
// when the last root referring to them goes.
struct Arena {
    std::size_t refs = 1;
    std::size_t bytes = 0;  // allocated (for the parser's own budget)
    struct Block {
        Block* prev;
        std::size_t size;
    };
    Block* blocks = nullptr;
    char* cur = nullptr;
    std::size_t left = 0;
    void* alloc(std::size_t n, std::size_t align);
    ~Arena();
};

// The parser's hands on a tree being built.
class Builder {
public:
    Builder();
    ~Builder();
    Builder(const Builder&) = delete;
    Builder& operator=(const Builder&) = delete;
    Node* node(NodeKind kind, std::size_t line, std::size_t column);
    // A scalar node holding a copy of `text`.
    Node* scalar(std::string_view text, bool quoted, std::size_t line, std::size_t column);
    // A shallow copy of `target` at another position: shares its children.
    Node* alias(const Node& target, std::size_t line, std::size_t column);
    // Appends `child` to the container `parent` (a map takes key, value, key...).
    static void append(Node& parent, Node*& tail, Node* child);
    static void count_entry(Node& map) { ++map.f_.size_; }
    static void set_size(Node& n, std::uint32_t s) { n.f_.size_ = s; }
    // The finished tree: a root owning the arena (a copy of *top).
    Node finish(const Node* top);
    std::size_t bytes() const { return arena_->bytes; }

private:
    Arena* arena_;
};

}  // namespace tree_detail

}  // namespace nra
