// The agent: wires a configuration source, the pure core and the netlink
// layer onto one event loop, and implements the three modes (daemon,
// ONESHOT, CLEANANDEXIT).
#pragma once

#include "nra/agent/config.hpp"

namespace nra {

// Returns the process exit status.
int run_agent(const Config& config);

}  // namespace nra
