// Signals as loop events: the signals are blocked for the calling thread
// (set up before any thread starts) and read from a signalfd.
#pragma once

#include <initializer_list>

#include "nra/base/fd.hpp"
#include "nra/base/result.hpp"

namespace nra {

// Blocks `signals` and returns a non-blocking, close-on-exec signalfd for
// them, or what failed ("sigprocmask: ...", "signalfd: ...").
Result<Fd> signal_fd(std::initializer_list<int> signals);

}  // namespace nra
