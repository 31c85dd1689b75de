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

namespace {

// A kernel without nexthop objects (or without resilient groups) answers
// the first add with one of these.
bool unsupported_errno(int e) { return e == EOPNOTSUPP || e == EINVAL || e == EAFNOSUPPORT || e == EPROTONOSUPPORT; }

}  // namespace

std::optional<Desired> Reconciler::shape(const Desired& desired, bool& ok) {
    if (nh_->objects()) {
        auto r = nh_->refresh(kernel_);
        if (!r) {
            if (!nh_->confirmed()) {
                nh_->fall_back(r.error);
            } else {
                log::error("cannot read the kernel's nexthop objects", {{"error", r.error}});
                ok = false;
                return std::nullopt;
            }
        }
    }
    auto t = nh_->target(desired, mirror_.routes());
    if (!t) {
        log::error("cannot lay out nexthop objects", {{"error", t.error}});
        ok = false;
        return std::nullopt;
    }
    return std::move(*t.value);
}

bool Reconciler::apply_nexthops(const std::vector<NhOp>& ops, Outcome& out, bool* unsupported) {
    if (ops.empty()) return true;
    for (const NhOp& op : ops)
        log::info(op.kind == NhOpKind::Del       ? (op.reason == Reason::Imposter ? "removing imposter nexthop object"
                                                    : op.reason == Reason::Stale  ? "removing stale nexthop object"
                                                                                  : "removing nexthop object")
                  : op.reason == Reason::Missing ? "adding nexthop object"
                                                 : "replacing nexthop object",
                  {{"object", op.object.str()}, {"reason", std::string(reason_name(op.reason))}});
    const auto results = kernel_.apply_nexthops(ops);
    nh_->invalidate();
    out.seen.merge(mirror_.drain(kernel_));
    bool ok = results.size() == ops.size();
    for (std::size_t i = 0; i < ops.size() && i < results.size(); ++i) {
        if (!results[i].error) {
            if (ops[i].kind == NhOpKind::Replace) nh_->note_applied();
            continue;
        }
        if (unsupported && !nh_->confirmed() && ops[i].kind == NhOpKind::Replace &&
            unsupported_errno(results[i].error)) {
            *unsupported = true;
            nh_->fall_back(std::string(std::strerror(results[i].error)) +
                           (results[i].ext_ack.empty() ? "" : " (" + results[i].ext_ack + ")"));
            return false;
        }
        ok = false;
        log::error("kernel refused a change",
                   {{"op", ops[i].kind == NhOpKind::Del ? "delete nexthop" : "replace nexthop"},
                    {"object", ops[i].object.str()},
                    {"error", std::strerror(results[i].error)},
                    {"ext_ack", results[i].ext_ack}});
    }
    if (!ok) mirror_.invalidate();
    return ok;
}

Result<std::vector<NhOp>> Reconciler::preview_nexthops(const Desired& desired) {
    if (!nh_ || !nh_->objects()) return Result<std::vector<NhOp>>::ok({});
    auto refreshed = mirror_.refresh(kernel_);
    if (!refreshed) return Result<std::vector<NhOp>>::fail(refreshed.error);
    bool ok = true;
    auto shaped = shape(desired, ok);
    if (!shaped) return Result<std::vector<NhOp>>::fail("cannot lay out nexthop objects");
    if (!nh_->objects()) return Result<std::vector<NhOp>>::ok({});
    NhPlan p = plan_nexthops(nh_->wanted(), nh_->observed(), nh_->settings());
    std::vector<NhOp> ops = std::move(p.before);
    for (auto& op : p.after) ops.push_back(std::move(op));
    return Result<std::vector<NhOp>>::ok(std::move(ops));
}

Reconciler::Outcome Reconciler::reconcile(const Desired& desired_in, FightLimiter* fights, Clock::time_point now) {
    Outcome out;
    for (int pass = 0;; ++pass) {
        auto refreshed = mirror_.refresh(kernel_);
        if (!refreshed) {
            log::error("cannot read the kernel's rules and routes", {{"error", refreshed.error}});
            out.ok = false;
            break;
        }
        out.dumped_rules += *refreshed.value;
        // Nexthop objects: dead peers out, routes on groups; the objects
        // made before the routes that use them, removed after.
        std::optional<Desired> shaped;
        NhPlan nh_plan;
        if (nh_) {
            shaped = shape(desired_in, out.ok);
            if (!shaped) break;
            if (nh_->objects()) nh_plan = plan_nexthops(nh_->wanted(), nh_->observed(), nh_->settings());
        }
        const Desired& desired = shaped ? *shaped : desired_in;
        std::vector<const Rule*> stuck;
        auto ops = plan(desired, mirror_.rule_view(), mirror_.routes(), &stuck);
        for (const Rule* r : stuck)
            log::warn("rule left in place: every way to delete it would first delete one of our rules",
                      {{"object", r->str()}});
        out.stuck = stuck.size();
        if (!stuck.empty()) out.ok = false;
        if (ops.empty() && nh_plan.empty()) break;
        if (pass == kMaxPasses) {
            log::warn("kernel state did not converge; will retry on the next trigger", {{"pending", ops.size()}});
            out.ok = false;
            break;
        }
        const bool fight_now = fights && fights->note(ops, now);
        out.fight |= fight_now;
        out.changes += ops.size() + nh_plan.before.size() + nh_plan.after.size();
        if (!nh_plan.before.empty()) {
            bool unsupported = false;
            if (!apply_nexthops(nh_plan.before, out, &unsupported)) {
                if (unsupported) continue;  // planned again with today's layout
                out.ok = false;
                break;
            }
        }
        if (!ops.empty() && !apply(ops, out)) {
            out.ok = false;
            break;
        }
        if (!apply_nexthops(nh_plan.after, out, nullptr)) {
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
        std::vector<NhOp> nh_ops;
        if (nh_) {
            // Our objects go too (after the routes that use them); a kernel
            // without them has none.
            auto r = nh_->refresh(kernel_);
            if (r) nh_ops = plan_nexthops_clean(nh_->observed(), nh_->settings());
        }
        if (ops.empty() && nh_ops.empty()) return out;
        out.changes += ops.size() + nh_ops.size();
        if (!ops.empty() && !apply(ops, out)) {
            out.ok = false;
            return out;
        }
        if (!apply_nexthops(nh_ops, out, nullptr)) {
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
    if (nh_) {
        bool ok = true;
        auto shaped = shape(desired, ok);
        if (!shaped) return Result<std::vector<Op>>::fail("cannot lay out nexthop objects");
        return Result<std::vector<Op>>::ok(plan(*shaped, mirror_.rule_view(), mirror_.routes()));
    }
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
