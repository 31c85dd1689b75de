// Child processes (pre/post reconcile scripts, exec credential plugins).
//
// ChildProcess::start runs one on the event loop without waiting: stdin from
// /dev/null, stdout and stderr read through non-blocking pipes on the loop
// (the first `max_output` bytes of each kept, the rest counted), the exit
// seen through a pidfd, the timeout a loop timer. The child gets its own
// process group:
//   - on timeout or cancel() the whole group gets SIGKILL at once (no SIGTERM
//     grace: the timeout is the grace);
//   - when the child exits by itself the rest of its group is left alone (a
//     script may start a helper on purpose); its pipes are read for at most
//     `drain` more and then closed, so a background process that keeps them
//     open never delays the result (it gets EPIPE if it writes later).
// run_command is the same thing on a private loop, for callers that wait.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace nra {

class EventLoop;

struct ScriptResult {
    bool started = false;
    std::string error;                             // why it could not start (names the command)
    int exit_code = -1;                            // when exited normally
    int signal = 0;                                // when killed by a signal (not by us)
    bool timed_out = false;                        // we killed it at its timeout
    std::string out, err;                          // captured output: the first max_output bytes of each
    std::size_t out_dropped = 0, err_dropped = 0;  // bytes read beyond max_output
    std::chrono::milliseconds elapsed{0};
    bool ok() const { return started && !timed_out && signal == 0 && exit_code == 0; }
};

struct ChildSpec {
    std::vector<std::string> argv;       // argv[0] searched in PATH when it has no '/'
    std::vector<std::string> extra_env;  // "NAME=value", added to the agent's environment
    std::chrono::milliseconds timeout{30000};
    std::size_t max_output = 64 * 1024;    // per stream
    std::chrono::milliseconds drain{100};  // pipe reads after the child's exit
};

class ChildProcess {
public:
    using Done = std::function<void(ScriptResult)>;

    // Starts spec on `loop`. `done` is called exactly once, from the loop and
    // never from inside start() (also when the child cannot be started:
    // started=false, error set), unless cancel() or the destructor comes
    // first. The handle may be destroyed inside `done`.
    static std::unique_ptr<ChildProcess> start(EventLoop& loop, ChildSpec spec, Done done);

    // Kills the process group (SIGKILL), reaps the child without blocking the
    // loop, drops `done`. Also done by the destructor (which must run before
    // the loop's). Idempotent; nothing after finish.
    void cancel();
    ~ChildProcess();

    bool finished() const { return finished_; }
    pid_t pid() const { return pid_; }

    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

private:
    ChildProcess(EventLoop& loop, ChildSpec spec, Done done);
    void spawn();
    void on_pipe(int which);
    void on_exit_event();
    void on_timeout();
    void reap();
    void maybe_finish();
    void finish();
    void release_fds();

    EventLoop& loop_;
    ChildSpec spec_;
    Done done_;
    ScriptResult result_;
    std::chrono::steady_clock::time_point start_;
    pid_t pid_ = -1;
    int pidfd_ = -1;
    int pipes_[2] = {-1, -1};  // read ends: stdout, stderr
    std::uint64_t timeout_timer_ = 0, drain_timer_ = 0, poll_timer_ = 0;
    bool exited_ = false;
    bool finished_ = false;
};

// Runs argv[0] (searched in PATH when it has no '/') with argv, the agent's
// environment plus `extra_env` ("NAME=value"), stdin from /dev/null, in its
// own process group; kills the group after `timeout`. Waits (private loop).
ScriptResult run_command(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env,
                         std::chrono::milliseconds timeout);

// The environment of a reconcile script: NRA_RECONCILE_PHASE=<phase>.
ChildSpec script_spec(const std::string& path, const std::string& phase, std::chrono::milliseconds timeout);

ScriptResult run_script(const std::string& path, const std::string& phase, std::chrono::milliseconds timeout);

// Logs a script's outcome (info when it succeeded, warn otherwise).
void log_script_result(const std::string& path, const std::string& phase, std::chrono::milliseconds timeout,
                       const ScriptResult& r);

// Runs the script if `path` is set and logs the outcome (warn on failure). Waits.
void run_and_log_script(const std::string& path, const std::string& phase, std::chrono::milliseconds timeout);

}  // namespace nra
