// The agent's picture of the owned tables: the rules referencing them, kept in
// the kernel's list order from notifications (thousands of rules must not cost
// a dump per event), and the tables' routes, re-dumped whenever touched (they
// are few, and IPv4 aliases and IPv6 sibling notifications make them hard to
// follow). Any doubt (overrun, a refused change, a periodic resync)
// invalidates a part, and the next refresh() re-reads it.
#pragma once

#include <cstdint>
#include <list>
#include <set>
#include <string>
#include <vector>

#include "nra/agent/kernel.hpp"
#include "nra/base/result.hpp"
#include "nra/core/types.hpp"

namespace nra {

// Rules in the kernel's list order (both families merged by priority, each
// family in its own order: the kernel keeps each list sorted by priority, a
// new rule after every rule of priority <= its own), indexed by value.
class RuleMirror {
public:
    using List = std::list<Rule>;
    List::const_iterator begin() const { return list_.begin(); }
    List::const_iterator end() const { return list_.end(); }
    std::size_t size() const { return list_.size(); }

    // A dump: IPv4 then IPv6, each in kernel order.
    void assign(std::vector<Rule>&& rules);
    // Where the kernel inserts it. Returns false when an equal rule was
    // already there (still inserted: the kernel holds both).
    bool insert(const Rule& r);
    // The kernel always deletes the first of equal rules. Foreign rules that
    // differ only in attributes the codec does not model are told apart by
    // the kernel's message.
    void erase(const Rule& r);

private:
    struct Less {
        using is_transparent = void;
        bool operator()(List::iterator a, List::iterator b) const { return *a < *b; }
        bool operator()(List::iterator a, const Rule& b) const { return *a < b; }
        bool operator()(const Rule& a, List::iterator b) const { return a < *b; }
    };
    List list_;
    std::multiset<List::iterator, Less> index_;
};

class KernelMirror {
public:
    explicit KernelMirror(TableSet tables) : tables_(tables) {}
    explicit KernelMirror(std::uint32_t table) : tables_{table, 1, 0} {}  // TABLE_WEIGHT only

    // What a drain saw, for the caller to act on.
    struct Seen {
        bool foreign = false;    // another writer changed an owned table
        bool interface = false;  // a link or an address changed (routes may have gone silently)
        bool address = false;    // an address changed (local peers)
        bool lookup = false;     // a route changed in a table peers are resolved through
        bool overrun = false;    // events were lost: everything re-read
        bool nexthops = false;   // a nexthop object in the agent's range changed (ours or not)
        std::string error;       // event socket error, if any
        // Neighbour entries and link states, in order (peer liveness);
        // collected only with follow_nexthops().
        struct Neigh {
            nl::Neighbour n;
            bool deleted;
        };
        std::vector<Neigh> neighbours;
        std::vector<std::pair<std::uint32_t, bool>> links;  // ifindex, up
        void merge(const Seen& o);
    };

    // Reads every pending event into the mirror.
    Seen drain(Kernel& kernel);
    // Re-reads what is invalid. Returns how many rules were dumped.
    Result<std::size_t> refresh(Kernel& kernel);

    // Tables whose route changes are reported as Seen::lookup (main and the
    // VRF tables peers are resolved through); the managed table never is.
    void set_lookup_tables(std::set<std::uint32_t> tables) { lookup_tables_ = std::move(tables); }
    // Nexthop events of ids in [min, max] concern the agent (foreign ones
    // trigger a correction; any re-reads the routes, which a deleted object
    // takes with it silently); neighbour and link states are collected.
    void follow_nexthops(std::uint32_t min, std::uint32_t max) {
        nh_min_ = min;
        nh_max_ = max;
    }

    // Routes can vanish silently only from tables that hold some: the
    // periodic re-read covers TABLE_WEIGHT and the tables the mirror holds
    // routes in; invalidate() (resync, a refused change, an overrun) re-reads
    // every owned table.
    void invalidate_routes() { stale_routes_held(); }
    void invalidate_rules() { rules_valid_ = false; }
    void invalidate() { rules_valid_ = false, all_routes_stale_ = true; }
    bool rules_valid() const { return rules_valid_; }

    const TableSet& tables() const { return tables_; }
    const RuleMirror& rules() const { return rules_; }
    std::vector<const Rule*> rule_view() const;  // kernel order, no copies
    const std::vector<Route>& routes() const { return routes_; }
    Observed observed() const;  // a copy (CLEANANDEXIT, dry run)

private:
    TableSet tables_;
    std::set<std::uint32_t> lookup_tables_;
    RuleMirror rules_;
    std::vector<Route> routes_;
    bool rules_valid_ = false;
    // Route state: every owned table unread (start, resync, overrun), or the
    // tables touched since the last read (one filtered dump each, so that a
    // range of 64 peer-set tables costs nothing while they are unused).
    bool all_routes_stale_ = true;
    std::set<std::uint32_t> stale_tables_;
    void stale_routes_held();                // TABLE_WEIGHT and every table holding a route
    std::uint32_t nh_min_ = 1, nh_max_ = 0;  // empty: not following
};

}  // namespace nra
