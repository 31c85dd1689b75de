// What the agent needs from the kernel: filtered dumps, batched acked changes
// and the event drain. The real one is rtnetlink (RtnlKernel); the unit tests
// drive the reconciler with a simulated kernel behind the same interface.
#pragma once

#include <cerrno>
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
    // Every link (VRF devices with their tables).
    virtual Result<std::vector<nl::Link>> dump_links() = 0;
    // One result per op, in order (see nl::Rtnl::apply).
    virtual std::vector<nl::OpResult> apply(const std::vector<Op>& ops) = 0;
    // Every pending event, without blocking.
    virtual nl::DrainResult drain_events(const std::function<void(const nl::Event&)>& fn) = 0;
    // The port id our own changes' notifications carry.
    virtual std::uint32_t portid() const = 0;

    // Nexthop objects (see core/nexthop_objects.hpp). The defaults are a
    // kernel without them: every dump and change refused with EOPNOTSUPP.
    virtual Result<std::vector<NexthopObject>> dump_nexthops() {
        return Result<std::vector<NexthopObject>>::fail("nexthop dump: Operation not supported");
    }
    virtual std::vector<nl::OpResult> apply_nexthops(const std::vector<NhOp>& ops) {
        return std::vector<nl::OpResult>(ops.size(), nl::OpResult{EOPNOTSUPP, ""});
    }
    virtual Result<std::vector<nl::Neighbour>> dump_neighbours() { return Result<std::vector<nl::Neighbour>>::ok({}); }
    virtual Result<std::vector<nl::Interface>> dump_interface_addresses() {
        return Result<std::vector<nl::Interface>>::ok({});
    }
};

class RtnlKernel final : public Kernel {
public:
    explicit RtnlKernel(nl::Rtnl& rtnl) : rtnl_(rtnl) {}
    Result<Observed> dump(const TableSet& tables, bool rules, bool routes) override {
        return rtnl_.dump(tables, rules, routes);
    }
    Result<std::vector<IpAddr>> dump_addresses() override { return rtnl_.dump_addresses(); }
    Result<std::vector<nl::Link>> dump_links() override { return rtnl_.dump_links(); }
    std::vector<nl::OpResult> apply(const std::vector<Op>& ops) override { return rtnl_.apply(ops); }
    nl::DrainResult drain_events(const std::function<void(const nl::Event&)>& fn) override {
        return rtnl_.drain_events(fn);
    }
    std::uint32_t portid() const override { return rtnl_.request_portid(); }
    Result<std::vector<NexthopObject>> dump_nexthops() override { return rtnl_.dump_nexthops(); }
    std::vector<nl::OpResult> apply_nexthops(const std::vector<NhOp>& ops) override {
        return rtnl_.apply_nexthops(ops);
    }
    Result<std::vector<nl::Neighbour>> dump_neighbours() override { return rtnl_.dump_neighbours(); }
    Result<std::vector<nl::Interface>> dump_interface_addresses() override { return rtnl_.dump_interface_addresses(); }

private:
    nl::Rtnl& rtnl_;
};

}  // namespace nra
