// Plan / apply / verify passes over a Kernel and its mirror: plan against the
// mirror, apply one batch, learn from the echoes what the kernel really did,
// and plan again until nothing is left (normally one pass; more only when
// another writer changes the table meanwhile). CLEANANDEXIT's passes too.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "nra/agent/fight.hpp"
#include "nra/agent/kernel.hpp"
#include "nra/agent/mirror.hpp"
#include "nra/agent/nexthops.hpp"
#include "nra/core/desired.hpp"

namespace nra {

// Changes applied, by op kind and reason (metrics).
struct ChangeCounts {
    static constexpr std::size_t kKinds = 5, kReasons = 8;
    std::array<std::array<std::size_t, kReasons>, kKinds> n{};
    void add(const Op& op) { ++n[static_cast<std::size_t>(op.kind)][static_cast<std::size_t>(op.reason)]; }
    std::size_t total() const;
};

class Reconciler {
public:
    using Clock = std::chrono::steady_clock;

    // Plan/apply rounds per reconcile: one normally converges (the plan
    // simulates the kernel's first-match deletes); more follow other writers'
    // changes. The bound guards against a kernel that keeps refusing silently.
    static constexpr int kMaxPasses = 256;

    struct Outcome {
        bool ok = true;
        std::size_t changes = 0;           // ops applied
        std::size_t dumped_rules = 0;      // rules read by dumps
        bool waiting_for_network = false;  // refused only for want of a link or an address
        bool fight = false;                // a corrective reconcile re-corrected the same object
        std::size_t stuck = 0;             // rules left in place (removing them would remove one of ours)
        ChangeCounts counts;
        KernelMirror::Seen seen;  // other writers' changes drained while applying
    };

    Reconciler(Kernel& kernel, KernelMirror& mirror) : kernel_(kernel), mirror_(mirror) {}
    // Nexthop objects and peer liveness (NEXTHOP_OBJECTS=auto); null: today's
    // layout only, no nexthop object ever touched.
    void set_nexthops(NexthopManager* nh) { nh_ = nh; }

    // Brings the table to `desired`. With `fights`, this is a corrective
    // reconcile (only other writers' changes triggered it): the ops are shown
    // to the fight detector.
    Outcome reconcile(const Desired& desired, FightLimiter* fights, Clock::time_point now);
    // Removes every rule referencing the table and every route in it.
    Outcome clean();
    // What reconcile() would do first, touching nothing (the dry run).
    Result<std::vector<Op>> preview(const Desired& desired);

    // The nexthop-object changes reconcile() would make first (dry run).
    Result<std::vector<NhOp>> preview_nexthops(const Desired& desired);

private:
    bool apply(const std::vector<Op>& ops, Outcome& out);
    // Nexthop ops; `first_add` set when the kernel refused the first object
    // ever (a kernel without them: the caller falls back).
    bool apply_nexthops(const std::vector<NhOp>& ops, Outcome& out, bool* unsupported);
    // The desired state shaped by the nexthop manager, or nullopt on failure (logged).
    std::optional<Desired> shape(const Desired& desired, bool& ok);

    Kernel& kernel_;
    KernelMirror& mirror_;
    NexthopManager* nh_ = nullptr;
};

// Log text of an op: "adding rule", "removing imposter route", ...
std::string_view op_message(const Op& op);
std::string object_text(const Op& op);

}  // namespace nra
