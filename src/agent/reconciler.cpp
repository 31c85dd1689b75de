#include "nra/agent/reconciler.hpp"

#include <cerrno>
#include <cstring>

#include "nra/base/log.hpp"

namespace nra {

namespace {

// The kernel refuses a route whose gateway is not reachable yet (link down,
// address not there): retried on the link/address event that allows it.
bool waits_for_network(int err) { return err == ENETUNREACH || err == ENETDOWN || err == EHOSTUNREACH; }

}  // namespace

std::size_t ChangeCounts::total() const {
    std::size_t t = 0;
    for (const auto& k : n)
        for (std::size_t v : k) t += v;
    return t;
}

std::string_view op_message(const Op& op) {
    const Reason r = op.reason;
    switch (op.kind) {
    case OpKind::ReplaceRoute:
        return r == Reason::Missing ? "adding route" : "replacing route";
    case OpKind::AddRule:
        return "adding rule";
    case OpKind::AppendRule:
        return r == Reason::Moved ? "moving rule" : "adding rule";
    case OpKind::DelRule:
        switch (r) {
        case Reason::Moved:
            return "removing the old copy of a moved rule";
        case Reason::Imposter:
            return "removing imposter rule";
        case Reason::Stale:
            return "removing stale rule";
        case Reason::Duplicate:
            return "removing duplicate rule";
        default:
            return "removing rule";
        }
    case OpKind::DelRoute:
        return r == Reason::Imposter ? "removing imposter route"
               : r == Reason::Stale  ? "removing stale route"
                                     : "removing route";
    }
    return "changing";
}

std::string object_text(const Op& op) {
    return std::holds_alternative<Rule>(op.object) ? op.rule().str() : op.route().str();
}

Reconciler::Outcome Reconciler::reconcile(const Desired& desired, FightLimiter* fights, Clock::time_point now) {
    Outcome out;
    for (int pass = 0;; ++pass) {
        auto refreshed = mirror_.refresh(kernel_);
        if (!refreshed) {
            log::error("cannot read the kernel's rules and routes", {{"error", refreshed.error}});
            out.ok = false;
            break;
        }
        out.dumped_rules += *refreshed.value;
        std::vector<const Rule*> stuck;
        auto ops = plan(desired, mirror_.rule_view(), mirror_.routes(), &stuck);
        for (const Rule* r : stuck)
            log::warn("rule left in place: every way to delete it would first delete one of our rules",
                      {{"object", r->str()}});
        out.stuck = stuck.size();
        if (!stuck.empty()) out.ok = false;
        if (ops.empty()) break;
        if (pass == kMaxPasses) {
            log::warn("kernel state did not converge; will retry on the next trigger", {{"pending", ops.size()}});
            out.ok = false;
            break;
        }
        const bool fight_now = fights && fights->note(ops, now);
        out.fight |= fight_now;
        out.changes += ops.size();
        if (!apply(ops, out)) {
            out.ok = false;
            break;
        }
        // Fighting another writer: one pass per round, so the next round goes
        // through the limiter instead of chasing the writer here.
        if (fight_now) {
            out.seen.foreign = true;
            break;
        }
    }
    return out;
}

Reconciler::Outcome Reconciler::clean() {
    Outcome out;
    for (int pass = 0; pass < kMaxPasses; ++pass) {
        auto refreshed = mirror_.refresh(kernel_);
        if (!refreshed) {
            log::error("cannot read the kernel's rules and routes", {{"error", refreshed.error}});
            out.ok = false;
            return out;
        }
        auto ops = plan_clean(mirror_.observed());
        if (ops.empty()) return out;
        out.changes += ops.size();
        if (!apply(ops, out)) {
            out.ok = false;
            return out;
        }
    }
    log::error("tables still not clean after several passes", {{"tables", mirror_.tables().str()}});
    out.ok = false;
    return out;
}

Result<std::vector<Op>> Reconciler::preview(const Desired& desired) {
    auto refreshed = mirror_.refresh(kernel_);
    if (!refreshed) return Result<std::vector<Op>>::fail(refreshed.error);
    return Result<std::vector<Op>>::ok(plan(desired, mirror_.rule_view(), mirror_.routes()));
}

bool Reconciler::apply(const std::vector<Op>& ops, Outcome& out) {
    if (log::enabled(log::Level::Info)) {  // thousands of ops: build the text only when it is written
        std::size_t moved = 0;
        for (const Op& op : ops) {
            if (op.reason == Reason::Moved) {  // one line for all: a wildcard imposter can move thousands
                moved += op.kind == OpKind::AppendRule;
                if (log::enabled(log::Level::Debug)) log::debug(op_message(op), {{"object", object_text(op)}});
                continue;
            }
            log::info(op_message(op), {{"object", object_text(op)}, {"reason", std::string(reason_name(op.reason))}});
        }
        if (moved)
            log::info("moving our rules behind the rules being removed (a delete takes the first rule it matches)",
                      {{"rules", moved}});
    }
    const auto results = kernel_.apply(ops);
    bool ok = results.size() == ops.size();
    // The kernel queued the notifications of our changes before acking them:
    // they say exactly what was created and deleted (a delete can hit another
    // rule than the one asked for). They update the mirror.
    out.seen.merge(mirror_.drain(kernel_));
    bool network = true;
    for (std::size_t i = 0; i < ops.size() && i < results.size(); ++i) {
        if (!results[i].error) {
            out.counts.add(ops[i]);
            continue;
        }
        ok = false;
        const bool wait = waits_for_network(results[i].error);
        network = network && wait;
        log::write(wait ? log::Level::Warn : log::Level::Error,
                   wait ? "kernel refused a change until a link or address comes back; retried when it does"
                        : "kernel refused a change",
                   {{"op", std::string(op_kind_name(ops[i].kind))},
                    {"object", object_text(ops[i])},
                    {"error", std::strerror(results[i].error)},
                    {"ext_ack", results[i].ext_ack}});
    }
    if (!ok) mirror_.invalidate();  // re-read the truth
    if (!ok && results.size() == ops.size() && network) out.waiting_for_network = true;
    return ok;
}

}  // namespace nra
