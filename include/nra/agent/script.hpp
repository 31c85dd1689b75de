// Pre/post reconcile scripts: run with a timeout after which the script and
// its process group are killed; exit status and output are reported.
#pragma once

#include <chrono>
#include <string>

namespace nra {

struct ScriptResult {
    bool started = false;
    std::string error;       // why it could not start
    int exit_code = -1;      // when exited normally
    int signal = 0;          // when killed by a signal
    bool timed_out = false;  // we killed it
    std::string out, err;    // captured output (truncated to a sane size)
    std::chrono::milliseconds elapsed{0};
    bool ok() const { return started && !timed_out && signal == 0 && exit_code == 0; }
};

ScriptResult run_script(const std::string& path, const std::string& phase, std::chrono::milliseconds timeout);

// Runs the script if `path` is set and logs the outcome (warn on failure).
void run_and_log_script(const std::string& path, const std::string& phase, std::chrono::milliseconds timeout);

}  // namespace nra
