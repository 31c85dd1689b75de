// What the agent needs from the kernel: filtered dumps, batched acked changes
// and the event drain. The real one is rtnetlink (RtnlKernel); the unit tests
// drive the reconciler with a simulated kernel behind the same interface.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "nra/core/types.hpp"
#include "nra/netlink/rtnl.hpp"

namespace nra {

class Kernel {
public:
    virtual ~Kernel() = default;
    // Rules (both families) referencing an owned table in the kernel's list
    // order, and the routes in the owned tables.
    virtual Result<Observed> dump(const TableSet& tables, bool rules, bool routes) = 0;
    virtual Result<std::vector<IpAddr>> dump_addresses() = 0;
    // One result per op, in order (see nl::Rtnl::apply).
    virtual std::vector<nl::OpResult> apply(const std::vector<Op>& ops) = 0;
    // Every pending event, without blocking.
    virtual nl::DrainResult drain_events(const std::function<void(const nl::Event&)>& fn) = 0;
    // The port id our own changes' notifications carry.
    virtual std::uint32_t portid() const = 0;
};

class RtnlKernel final : public Kernel {
public:
    explicit RtnlKernel(nl::Rtnl& rtnl) : rtnl_(rtnl) {}
    Result<Observed> dump(const TableSet& tables, bool rules, bool routes) override {
        return rtnl_.dump(tables, rules, routes);
    }
    Result<std::vector<IpAddr>> dump_addresses() override { return rtnl_.dump_addresses(); }
    std::vector<nl::OpResult> apply(const std::vector<Op>& ops) override { return rtnl_.apply(ops); }
    nl::DrainResult drain_events(const std::function<void(const nl::Event&)>& fn) override {
        return rtnl_.drain_events(fn);
    }
    std::uint32_t portid() const override { return rtnl_.request_portid(); }

private:
    nl::Rtnl& rtnl_;
};

}  // namespace nra
