// The kernel's policy-rule list, simulated: which rule a request deletes and
// where an added rule lands, so that rules can be removed without ever
// removing the last copy of a rule the agent wants. Pure functions.
//
// Kernel behaviour modelled (net/core/fib_rules.c, net/ipv4/fib_rules.c,
// net/ipv6/fib6_rules.c; checked on 6.18 by tests/netlink and the
// integration tests):
// - RTM_DELRULE deletes the FIRST rule of the family's list that the request
//   matches (rule_find): a selector the request leaves unset (no source, no
//   mark, no iif, protocol 0, tos 0, ...) matches any value; the flags
//   (FIB_RULE_INVERT), the goto target and attributes the request lacks are
//   not compared at all. The priority is compared only when FRA_PRIORITY is
//   sent.
// - RTM_NEWRULE inserts after the last rule with priority <= the new one's
//   (the list stays sorted by priority, same-priority rules in insertion
//   order); with NLM_F_EXCL it is refused (EEXIST) when rule_exists finds an
//   equal rule - exact on the generic selectors, but the per-family compare
//   again treats an unset source, destination or tos as a wildcard and
//   ignores the flags.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "nra/core/types.hpp"

namespace nra {

// Whether the kernel's rule_find would take `r` for the delete request the
// codec sends for `request`: every field as encoded (our rules), or the
// kernel's own message (foreign rules, Rule::raw set: FRA_PRIORITY is then
// absent when the priority is 0, FRA_FWMASK is sent as the kernel gave it).
// Attributes the codec does not model only match rules carrying attributes
// of the same types (their values are not compared: such rules are never
// ours, so this can only confuse two foreign rules, both being removed).
bool delete_would_match(const Rule& request, const Rule& r);

// Whether an add of `request` with NLM_F_EXCL would be refused because of `r`.
bool add_would_collide(const Rule& request, const Rule& r);

// One rule of the kernel's list (kernel order) that references the table.
struct RuleEntry {
    const Rule* rule = nullptr;
    std::int32_t keep = -1;         // >= 0: a copy of wanted rule #keep (copies are interchangeable)
    Reason why = Reason::Imposter;  // keep < 0: why it goes
};

// A wanted rule the kernel does not hold.
struct MissingRule {
    const Rule* rule = nullptr;
    std::int32_t keep = -1;  // its wanted-rule number, distinct from every entry's
};

struct RulePlan {
    // In order, for one batch: the missing rules added, then every unwanted
    // rule and every extra copy of a wanted rule deleted. Before a delete
    // whose first match would be the last copy of a wanted rule, that rule is
    // appended again (AppendRule, lands behind the delete's target) and the
    // delete then takes the old copy (why "moved" on both ops). Every op
    // deletes exactly what the simulation says, so a wanted rule always has a
    // copy in the kernel.
    std::vector<Op> ops;
    // Unwanted rules left in place: no order of requests removes them without
    // losing a wanted rule (only possible for a request without priority).
    std::vector<const Rule*> stuck;
    std::size_t moved = 0;  // wanted rules moved behind a target
};

RulePlan plan_rule_changes(const std::vector<RuleEntry>& kernel_order, const std::vector<MissingRule>& missing);

// The same plan for the common case of a configuration change that only adds
// rules: the kernel holds no unwanted rule and no extra copy of a wanted one,
// so nothing is deleted and no simulation of the list is needed. `sorted`:
// the kernel's rules in Rule order; `missing` in Rule order. Each missing rule
// is checked for an exclusive-add collision only against the rules of its
// family, priority and source (binary search), and against the missing rules
// added before it: O(M log N) instead of building a simulation of N rules.
// nullopt when a missing rule has no source (every rule is then a candidate:
// use plan_rule_changes).
std::optional<RulePlan> plan_additions(const std::vector<const Rule*>& sorted, const std::vector<MissingRule>& missing);

}  // namespace nra
