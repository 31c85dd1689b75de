#include "nra/base/child.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "nra/base/log.hpp"
#include "nra/base/loop.hpp"

extern char** environ;

namespace nra {

namespace {

constexpr std::size_t kReadPerEvent = 256 * 1024;   // then back to the loop (level-triggered)
constexpr std::chrono::milliseconds kExitPoll{50};  // without pidfd_open (kernel < 5.3)

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// Children killed by cancel() that had not died yet when it returned: reaped
// without blocking at the next start or cancel.
std::vector<pid_t>& orphans() {
    static std::vector<pid_t> v;
    return v;
}

void reap_orphans() {
    auto& v = orphans();
    v.erase(std::remove_if(v.begin(), v.end(),
                           [](pid_t p) {
                               const pid_t r = ::waitpid(p, nullptr, WNOHANG);
                               return r == p || (r < 0 && errno == ECHILD);
                           }),
            v.end());
}

}  // namespace

ChildProcess::ChildProcess(EventLoop& loop, ChildSpec spec, Done done)
    : loop_(loop), spec_(std::move(spec)), done_(std::move(done)), start_(std::chrono::steady_clock::now()) {}

std::unique_ptr<ChildProcess> ChildProcess::start(EventLoop& loop, ChildSpec spec, Done done) {
    reap_orphans();
    std::unique_ptr<ChildProcess> c(new ChildProcess(loop, std::move(spec), std::move(done)));
    c->spawn();
    return c;
}

void ChildProcess::spawn() {
    ChildProcess* self = this;
    auto fail = [&](std::string why) {
        result_.error = std::move(why);
        release_fds();
        // Reported from the loop: callers expect no callback from start().
        timeout_timer_ = loop_.after(std::chrono::milliseconds(0), [self] {
            self->timeout_timer_ = 0;
            self->finish();
        });
    };
    if (spec_.argv.empty() || spec_.argv[0].empty()) return fail("no command");
    const std::string& cmd = spec_.argv[0];

    int fds[2][2];
    // Only our read ends are non-blocking: the child's write ends block as
    // on any pipe (O_NONBLOCK on pipe2 would set it on both).
    if (::pipe2(fds[0], O_CLOEXEC) < 0) return fail("cannot start " + cmd + ": pipe: " + std::strerror(errno));
    if (::pipe2(fds[1], O_CLOEXEC) < 0) {
        const int e = errno;
        ::close(fds[0][0]);
        ::close(fds[0][1]);
        return fail("cannot start " + cmd + ": pipe: " + std::strerror(e));
    }
    pipes_[0] = fds[0][0];
    pipes_[1] = fds[1][0];
    for (int fd : pipes_) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[0][1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, fds[1][1], STDERR_FILENO);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    // Its own process group, so a timeout kills the child and its children.
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);  // the agent blocks signals for signalfd
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::vector<std::string> env_store;
    for (char** e = environ; *e; ++e) env_store.emplace_back(*e);
    for (const auto& e : spec_.extra_env) env_store.push_back(e);
    std::vector<char*> envp;
    for (auto& e : env_store) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<std::string> arg_store = spec_.argv;
    std::vector<char*> argv;
    for (auto& a : arg_store) argv.push_back(a.data());
    argv.push_back(nullptr);

    const int rc = ::posix_spawnp(&pid_, cmd.c_str(), &fa, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ::close(fds[0][1]);
    ::close(fds[1][1]);
    if (rc != 0) {
        pid_ = -1;
        return fail("cannot start " + cmd + ": " + std::strerror(rc));
    }
    result_.started = true;

    for (int i = 0; i < 2; ++i) {
        loop_.add(pipes_[i], EPOLLIN, [self, i](std::uint32_t) { self->on_pipe(i); });
    }
    pidfd_ = pidfd_open(pid_);
    if (pidfd_ >= 0) {
        loop_.add(pidfd_, EPOLLIN, [self](std::uint32_t) { self->on_exit_event(); });
    } else {
        // Old kernel: look for the exit a few times a second.
        struct Poll {
            static void arm(ChildProcess* c) {
                c->poll_timer_ = c->loop_.after(kExitPoll, [c] {
                    c->poll_timer_ = 0;
                    c->on_exit_event();
                    if (!c->exited_ && !c->finished_) arm(c);
                });
            }
        };
        Poll::arm(this);
    }
    timeout_timer_ = loop_.after(spec_.timeout, [self] {
        self->timeout_timer_ = 0;
        self->on_timeout();
    });
}

void ChildProcess::on_pipe(int which) {
    int& fd = pipes_[which];
    if (fd < 0) return;
    std::string& into = which == 0 ? result_.out : result_.err;
    std::size_t& dropped = which == 0 ? result_.out_dropped : result_.err_dropped;
    char buf[16384];
    std::size_t total = 0;
    while (total < kReadPerEvent) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) {
            const auto got = static_cast<std::size_t>(n);
            total += got;
            const std::size_t keep = into.size() < spec_.max_output ? std::min(got, spec_.max_output - into.size()) : 0;
            into.append(buf, keep);
            dropped += got - keep;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        // EOF or a read error: this stream is done.
        loop_.remove(fd);
        ::close(fd);
        fd = -1;
        maybe_finish();
        return;
    }
}

void ChildProcess::reap() {
    if (exited_ || pid_ < 0) return;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == 0) return;
    exited_ = true;
    if (r == pid_ && !result_.timed_out) {
        if (WIFEXITED(status))
            result_.exit_code = WEXITSTATUS(status);
        else if (WIFSIGNALED(status))
            result_.signal = WTERMSIG(status);
    }
}

void ChildProcess::on_exit_event() {
    reap();
    if (!exited_) return;
    if (pidfd_ >= 0) {
        loop_.remove(pidfd_);
        ::close(pidfd_);
        pidfd_ = -1;
    }
    if (timeout_timer_) {
        loop_.cancel(timeout_timer_);
        timeout_timer_ = 0;
    }
    if (pipes_[0] >= 0 || pipes_[1] >= 0) {
        // Whatever is still in the pipes, for a short while: a background
        // process holding them open must not hold the result back.
        ChildProcess* self = this;
        drain_timer_ = loop_.after(spec_.drain, [self] {
            self->drain_timer_ = 0;
            for (int i = 0; i < 2; ++i) {
                if (self->pipes_[i] >= 0) self->on_pipe(i);
            }
            self->finish();
        });
    }
    maybe_finish();
}

void ChildProcess::on_timeout() {
    if (exited_ || finished_) return;
    result_.timed_out = true;
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    // The exit arrives through the pidfd (or the poll) like any other.
}

void ChildProcess::maybe_finish() {
    if (!finished_ && exited_ && pipes_[0] < 0 && pipes_[1] < 0) finish();
}

void ChildProcess::finish() {
    if (finished_) return;
    finished_ = true;
    release_fds();
    result_.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start_);
    auto done = std::move(done_);
    done_ = nullptr;
    if (done) done(std::move(result_));  // may destroy *this: nothing after
}

void ChildProcess::release_fds() {
    for (int& fd : pipes_) {
        if (fd >= 0) {
            loop_.remove(fd);
            ::close(fd);
            fd = -1;
        }
    }
    if (pidfd_ >= 0) {
        loop_.remove(pidfd_);
        ::close(pidfd_);
        pidfd_ = -1;
    }
    for (std::uint64_t* t : {&timeout_timer_, &drain_timer_, &poll_timer_}) {
        if (*t) loop_.cancel(*t);
        *t = 0;
    }
}

void ChildProcess::cancel() {
    if (!finished_) {
        finished_ = true;
        done_ = nullptr;
        if (pid_ > 0 && !exited_) {
            ::kill(-pid_, SIGKILL);
            ::kill(pid_, SIGKILL);
            reap();
            if (!exited_) orphans().push_back(pid_);
            exited_ = true;
        }
        release_fds();
    }
    reap_orphans();
}

ChildProcess::~ChildProcess() { cancel(); }

ScriptResult run_command(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env,
                         std::chrono::milliseconds timeout) {
    EventLoop loop;
    ScriptResult result;
    ChildSpec spec;
    spec.argv = argv;
    spec.extra_env = extra_env;
    spec.timeout = timeout;
    auto child = ChildProcess::start(loop, std::move(spec), [&](ScriptResult r) {
        result = std::move(r);
        loop.stop();
    });
    loop.run();
    return result;
}

ChildSpec script_spec(const std::string& path, const std::string& phase, std::chrono::milliseconds timeout) {
    ChildSpec spec;
    spec.argv = {path};
    spec.extra_env = {"NRA_RECONCILE_PHASE=" + phase};
    spec.timeout = timeout;
    return spec;
}

ScriptResult run_script(const std::string& path, const std::string& phase, std::chrono::milliseconds timeout) {
    const ChildSpec spec = script_spec(path, phase, timeout);
    return run_command(spec.argv, spec.extra_env, timeout);
}

void log_script_result(const std::string& path, const std::string& phase, std::chrono::milliseconds timeout,
                       const ScriptResult& r) {
    if (!r.started) {
        log::warn("reconcile script could not be started", {{"phase", phase}, {"path", path}, {"error", r.error}});
        return;
    }
    const auto dropped = static_cast<long long>(r.out_dropped + r.err_dropped);
    if (r.timed_out) {
        log::warn("reconcile script timed out and was killed", {{"phase", phase},
                                                                {"path", path},
                                                                {"timeout_ms", static_cast<long long>(timeout.count())},
                                                                {"stdout", r.out},
                                                                {"stderr", r.err},
                                                                {"output_bytes_dropped", dropped}});
        return;
    }
    const auto level = r.ok() ? log::Level::Info : log::Level::Warn;
    log::write(level, r.ok() ? "reconcile script finished" : "reconcile script failed",
               {{"phase", phase},
                {"path", path},
                {"exit_code", r.exit_code},
                {"signal", r.signal},
                {"elapsed_ms", static_cast<long long>(r.elapsed.count())},
                {"stdout", r.out},
                {"stderr", r.err},
                {"output_bytes_dropped", dropped}});
}

void run_and_log_script(const std::string& path, const std::string& phase, std::chrono::milliseconds timeout) {
    if (path.empty()) return;
    log_script_result(path, phase, timeout, run_script(path, phase, timeout));
}

}  // namespace nra
