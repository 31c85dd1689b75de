// A configuration source living on the event loop: the static file, the
// legacy ConfigMap, or the metallb.io CRDs. A source delivers a Model only
// when the derived configuration actually changed, and never delivers an
// "empty because unreachable" model: while its input is unavailable or
// invalid it keeps quiet (and logs), so the last good config stays enforced.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "nra/core/bgp_session.hpp"
#include "nra/core/model.hpp"

namespace nra {

class EventLoop;

class Source {
public:
    struct Callbacks {
        std::function<void(Model)> config;  // a new good configuration
        // The input is there but is not a configuration (unreadable, invalid,
        // empty): already logged by the source. ONESHOT gives up on it; the
        // daemon keeps its last good configuration and waits for a fix.
        std::function<void(const std::string& error)> failed;
        // Optional: this node's BGP session states (frr-k8s), whenever they
        // change; empty when they are no longer known. Only the Kubernetes
        // source delivers them.
        std::function<void(BgpSessions)> sessions = {};
    };
    // What a list/watch source has been through (metrics); zero elsewhere.
    struct Stats {
        std::size_t lists = 0;    // lists from the first page (the first of each stream included)
        std::size_t watches = 0;  // watches opened (re-opened after a timeout, a cut or silence included)
        std::size_t expired = 0;  // 410 Gone/Expired answers (a relist follows)
        std::size_t errors = 0;   // failed requests retried with backoff
    };
    virtual ~Source() = default;
    virtual Stats stats() const { return {}; }
    virtual void start(EventLoop& loop, Callbacks cb) = 0;
    virtual std::string describe() const = 0;  // "static file /etc/x.yaml", "ConfigMap metallb-system/config"
};

}  // namespace nra
