#include "nra/doc/tree.hpp"

#include <cstdlib>
#include <cstring>
#include <new>

namespace nra {

namespace tree_detail {

namespace {
constexpr std::size_t kBlock = 64 * 1024;
}

void* Arena::alloc(std::size_t n, std::size_t align) {
    std::size_t pad = (align - reinterpret_cast<std::uintptr_t>(cur) % align) % align;
    if (!cur || pad + n > left) {
        // A piece larger than a quarter block gets its own block, so the
        // current block's tail is not wasted.
        const std::size_t want = n + align + sizeof(Block);
        const std::size_t size = want > kBlock / 4 ? want : kBlock;
        auto* b = static_cast<Block*>(::operator new(size));
        b->size = size;
        bytes += size;
        char* start = reinterpret_cast<char*>(b) + sizeof(Block);
        if (size != kBlock) {  // a dedicated block: link it behind the current one
            if (blocks) {
                b->prev = blocks->prev;
                blocks->prev = b;
            } else {
                b->prev = nullptr;
                blocks = b;
            }
            const std::size_t p = (align - reinterpret_cast<std::uintptr_t>(start) % align) % align;
            return start + p;
        }
        b->prev = blocks;
        blocks = b;
        cur = start;
        left = size - sizeof(Block);
        pad = (align - reinterpret_cast<std::uintptr_t>(cur) % align) % align;
    }
    char* p = cur + pad;
    cur = p + n;
    left -= pad + n;
    return p;
}

Arena::~Arena() {
    while (blocks) {
        Block* p = blocks->prev;
        ::operator delete(blocks);
        blocks = p;
    }
}

Builder::Builder() : arena_(new Arena) {}

Builder::~Builder() {
    if (--arena_->refs == 0) delete arena_;
}

Node* Builder::node(NodeKind kind, std::size_t line, std::size_t column) {
    auto* n = new (arena_->alloc(sizeof(Node), alignof(Node))) Node();
    n->f_.kind_ = kind;
    n->f_.line_ = static_cast<std::uint32_t>(line);
    n->f_.column_ = static_cast<std::uint32_t>(column);
    return n;
}

Node* Builder::scalar(std::string_view text, bool quoted, std::size_t line, std::size_t column) {
    Node* n = node(NodeKind::Scalar, line, column);
    if (!text.empty()) {
        char* p = static_cast<char*>(arena_->alloc(text.size(), 1));
        std::memcpy(p, text.data(), text.size());
        n->f_.data_ = p;
    }
    n->f_.size_ = static_cast<std::uint32_t>(text.size());
    if (quoted) n->f_.flags_ |= Node::kQuoted;
    return n;
}

Node* Builder::alias(const Node& target, std::size_t line, std::size_t column) {
    Node* n = node(target.kind(), line, column);
    n->f_.flags_ = target.f_.flags_ & Node::kQuoted;
    n->f_.size_ = target.f_.size_;
    n->f_.data_ = target.f_.data_;
    return n;
}

void Builder::append(Node& parent, Node*& tail, Node* child) {
    if (tail)
        tail->f_.next_ = child;
    else
        parent.f_.data_ = child;
    tail = child;
    if (parent.is_seq()) ++parent.f_.size_;
}

Node Builder::finish(const Node* top) {
    Node root;
    if (!top) return root;  // nothing parsed: Null, owns nothing (the arena goes with the builder)
    root.f_ = top->f_;
    root.f_.flags_ |= Node::kOwner;
    root.f_.next_ = arena_;
    ++arena_->refs;
    return root;
}

}  // namespace tree_detail

Node::Node(const Node& o) : f_(o.f_) {
    if (f_.flags_ & kOwner) ++static_cast<tree_detail::Arena*>(const_cast<void*>(f_.next_))->refs;
}

Node::Node(Node&& o) noexcept : f_(o.f_) { o.f_.flags_ &= static_cast<std::uint8_t>(~kOwner), o.f_.next_ = nullptr; }

Node& Node::operator=(const Node& o) {
    if (this == &o) return *this;
    Node copy(o);
    return *this = std::move(copy);
}

Node& Node::operator=(Node&& o) noexcept {
    if (this == &o) return *this;
    release();
    f_ = o.f_;
    o.f_.flags_ &= static_cast<std::uint8_t>(~kOwner);
    o.f_.next_ = nullptr;
    return *this;
}

Node::~Node() { release(); }

void Node::release() {
    if (!(f_.flags_ & kOwner)) return;
    auto* a = static_cast<tree_detail::Arena*>(const_cast<void*>(f_.next_));
    if (--a->refs == 0) delete a;
    f_.flags_ &= static_cast<std::uint8_t>(~kOwner);
    f_.next_ = nullptr;
}

const Node* Node::get(std::string_view key) const {
    if (!is_map()) return nullptr;
    for (auto it = map.begin(); it != map.end(); ++it)
        if (it.key_node().scalar.view() == key) return &(*it).second;
    return nullptr;
}

std::string Node::where(std::string_view path) const {
    std::string s;  // built in place: a pool may hold thousands of entries
    s.reserve(32 + path.size());
    s.append("line ").append(std::to_string(line())).append(" column ").append(std::to_string(column()));
    if (!path.empty()) s.append(" (").append(path).append(")");
    return s;
}

}  // namespace nra
