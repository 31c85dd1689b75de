// Pre/post reconcile scripts: run with a timeout after which the script and
// its process group are killed; exit status and output are reported.
#pragma once

#include <chrono>
#include <string>
#include <vector>

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

// Runs argv[0] (searched in PATH when it has no '/') with argv, the agent's
// environment plus `extra_env` ("NAME=value"), stdin from /dev/null, in its
// own process group; kills the group after `timeout`.
ScriptResult run_command(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env,
                         std::chrono::milliseconds timeout);

ScriptResult run_script(const std::string& path, const std::string& phase, std::chrono::milliseconds timeout);

// Runs the script if `path` is set and logs the outcome (warn on failure).
// Returns whether the script ran and exited 0 (true when no script is set).
bool run_and_log_script(const std::string& path, const std::string& phase, std::chrono::milliseconds timeout);

}  // namespace nra
