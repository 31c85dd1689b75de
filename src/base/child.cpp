#include "nra/base/child.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "nra/base/fd.hpp"
#include "nra/base/log.hpp"

extern char** environ;

namespace nra {

namespace {

constexpr std::size_t kMaxOutput = 64 * 1024;

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

void drain(int fd, std::string& into, bool& open) {
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) {
            if (into.size() < kMaxOutput) into.append(buf, std::min<std::size_t>(static_cast<std::size_t>(n), kMaxOutput - into.size()));
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) open = false;
        return;
    }
}

}  // namespace

ScriptResult run_script(const std::string& path, const std::string& phase, std::chrono::milliseconds timeout) {
    return run_command({path}, {"NRA_RECONCILE_PHASE=" + phase}, timeout);
}

ScriptResult run_command(const std::vector<std::string>& args, const std::vector<std::string>& extra_env,
                         std::chrono::milliseconds timeout) {
    ScriptResult r;
    if (args.empty() || args[0].empty()) {
        r.error = "no command";
        return r;
    }
    const auto start = std::chrono::steady_clock::now();
    int out_pipe[2], err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        r.error = std::string("pipe: ") + std::strerror(errno);
        return r;
    }
    Fd out_r(out_pipe[0]), out_w(out_pipe[1]);
    if (::pipe2(err_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        r.error = std::string("pipe: ") + std::strerror(errno);
        return r;
    }
    Fd err_r(err_pipe[0]), err_w(err_pipe[1]);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_w.get(), STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, err_w.get(), STDERR_FILENO);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    // Its own process group, so a timeout kills the script and its children.
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);  // the agent blocks signals for signalfd
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::vector<std::string> env_store;
    for (char** e = environ; *e; ++e) env_store.emplace_back(*e);
    for (const auto& e : extra_env) env_store.push_back(e);
    std::vector<char*> envp;
    for (auto& e : env_store) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<std::string> arg_store = args;
    std::vector<char*> argv;
    for (auto& a : arg_store) argv.push_back(a.data());
    argv.push_back(nullptr);

    pid_t pid = -1;
    const int rc = ::posix_spawnp(&pid, args[0].c_str(), &fa, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    out_w.reset();
    err_w.reset();
    if (rc != 0) {
        r.error = std::strerror(rc);
        return r;
    }
    r.started = true;
    Fd pidfd(pidfd_open(pid));

    bool out_open = true, err_open = true, exited = false;
    int status = 0;
    const auto deadline = start + timeout;
    while (!exited) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            r.timed_out = true;
            ::kill(-pid, SIGKILL);
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            break;
        }
        pollfd pfds[3];
        nfds_t n = 0;
        if (out_open) pfds[n++] = {out_r.get(), POLLIN, 0};
        if (err_open) pfds[n++] = {err_r.get(), POLLIN, 0};
        if (pidfd) pfds[n++] = {pidfd.get(), POLLIN, 0};
        const int timeout_ms = pidfd ? static_cast<int>(left.count()) : std::min<int>(static_cast<int>(left.count()), 50);
        if (::poll(pfds, n, timeout_ms) < 0 && errno != EINTR) break;
        if (out_open) drain(out_r.get(), r.out, out_open);
        if (err_open) drain(err_r.get(), r.err, err_open);
        if (::waitpid(pid, &status, WNOHANG) == pid) exited = true;
    }
    // Whatever the script wrote just before exiting.
    if (out_open) drain(out_r.get(), r.out, out_open);
    if (err_open) drain(err_r.get(), r.err, err_open);
    if (!r.timed_out) {
        if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
        else if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
    }
    r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    return r;
}

bool run_and_log_script(const std::string& path, const std::string& phase, std::chrono::milliseconds timeout) {
    if (path.empty()) return true;
    const ScriptResult r = run_script(path, phase, timeout);
    if (!r.started) {
        log::warn("reconcile script could not be started", {{"phase", phase}, {"path", path}, {"error", r.error}});
        return false;
    }
    if (r.timed_out) {
        log::warn("reconcile script timed out and was killed",
                  {{"phase", phase}, {"path", path}, {"timeout_ms", static_cast<long long>(timeout.count())},
                   {"stdout", r.out}, {"stderr", r.err}});
        return false;
    }
    const auto level = r.ok() ? log::Level::Info : log::Level::Warn;
    log::write(level, r.ok() ? "reconcile script finished" : "reconcile script failed",
               {{"phase", phase}, {"path", path}, {"exit_code", r.exit_code}, {"signal", r.signal},
                {"elapsed_ms", static_cast<long long>(r.elapsed.count())}, {"stdout", r.out}, {"stderr", r.err}});
    return r.ok();
}

}  // namespace nra
