// Child processes on the event loop: real processes (sh), no root.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include "nra/base/child.hpp"
#include "nra/base/loop.hpp"

using namespace nra;
using namespace std::chrono_literals;

namespace {

ChildSpec sh(const std::string& script, std::chrono::milliseconds timeout = 10s) {
    ChildSpec s;
    s.argv = {"/bin/sh", "-c", script};
    s.timeout = timeout;
    return s;
}

struct Run {
    std::optional<ScriptResult> result;
    int ticks_while_running = 0;  // a 20 ms loop timer firing while the child runs
};

// Runs one child on a loop with a ticking timer; the handle is destroyed in
// its own callback.
Run run_on_loop(ChildSpec spec) {
    EventLoop loop;
    Run run;
    std::unique_ptr<ChildProcess> child;
    child = ChildProcess::start(loop, std::move(spec), [&](ScriptResult r) {
        run.result = std::move(r);
        child.reset();
        loop.stop();
    });
    std::function<void()> tick = [&] {
        if (run.result) return;
        ++run.ticks_while_running;
        loop.after(20ms, tick);
    };
    loop.after(20ms, tick);
    loop.after(30s, [&] { loop.stop(); });  // the test fails below rather than hanging
    loop.run();
    return run;
}

// Gone, or a zombie waiting for a reaper that is not us.
bool dead(pid_t pid) {
    if (::kill(pid, 0) != 0) return true;
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string pid_s, comm, state;
    f >> pid_s >> comm >> state;
    return state == "Z" || state == "X";
}

}  // namespace

TEST_CASE("child: exit status and output arrive as one result") {
    auto r = run_on_loop(sh("echo out; echo err >&2; exit 0")).result;
    REQUIRE(r);
    CHECK(r->ok());
    CHECK(r->out == "out\n");
    CHECK(r->err == "err\n");
    CHECK(r->exit_code == 0);

    r = run_on_loop(sh("exit 3")).result;
    REQUIRE(r);
    CHECK_FALSE(r->ok());
    CHECK(r->started);
    CHECK(r->exit_code == 3);
    CHECK(r->signal == 0);
    CHECK_FALSE(r->timed_out);
}

TEST_CASE("child: killed by a signal") {
    auto r = run_on_loop(sh("kill -TERM $$; sleep 5")).result;
    REQUIRE(r);
    CHECK(r->signal == SIGTERM);
    CHECK_FALSE(r->timed_out);
    CHECK_FALSE(r->ok());
}

TEST_CASE("child: a hanging child is killed at its timeout with its whole group") {
    auto run = run_on_loop(sh("sleep 300 & echo $!; sleep 300", 300ms));
    REQUIRE(run.result);
    const auto& r = *run.result;
    CHECK(r.timed_out);
    CHECK_FALSE(r.ok());
    CHECK(r.elapsed < 5s);
    CHECK(run.ticks_while_running >= 5);  // the loop kept running meanwhile
    const pid_t grandchild = static_cast<pid_t>(std::stol(r.out));
    REQUIRE(grandchild > 0);
    for (int i = 0; i < 100 && !dead(grandchild); ++i) ::usleep(10000);
    CHECK(dead(grandchild));
}

TEST_CASE("child: 10 MB of output are capped and never stall the loop") {
    auto spec = sh("head -c 10485760 /dev/zero; head -c 100 /dev/zero >&2; sleep 0.4");
    spec.max_output = 64 * 1024;
    auto run = run_on_loop(std::move(spec));
    REQUIRE(run.result);
    const auto& r = *run.result;
    CHECK(r.ok());
    CHECK(r.out.size() == 64 * 1024);
    CHECK(r.out_dropped == 10485760 - 64 * 1024);
    CHECK(r.err.size() == 100);
    CHECK(r.err_dropped == 0);
    CHECK(run.ticks_while_running >= 5);
}

TEST_CASE("child: a background process holding stdout does not hold the result back") {
    // The script leaves a member of its group running with the pipe open.
    auto spec = sh("sleep 30 & echo $!; exit 0");
    spec.drain = 100ms;
    auto run = run_on_loop(std::move(spec));
    REQUIRE(run.result);
    const auto& r = *run.result;
    CHECK(r.ok());
    CHECK(r.elapsed < 2s);
    const pid_t daemon = static_cast<pid_t>(std::stol(r.out));
    REQUIRE(daemon > 0);
    CHECK_FALSE(dead(daemon));  // documented: the rest of the group is left alone on a normal exit
    ::kill(daemon, SIGKILL);
}

TEST_CASE("child: a command that cannot be started is reported from the loop") {
    EventLoop loop;
    std::optional<ScriptResult> result;
    ChildSpec spec;
    spec.argv = {"/nonexistent/nra-script"};
    auto child = ChildProcess::start(loop, std::move(spec), [&](ScriptResult r) {
        result = std::move(r);
        loop.stop();
    });
    CHECK_FALSE(result);  // never from inside start()
    loop.after(5s, [&] { loop.stop(); });
    loop.run();
    REQUIRE(result);
    CHECK_FALSE(result->started);
    CHECK(result->error.find("/nonexistent/nra-script") != std::string::npos);
    CHECK(result->error.find("No such file") != std::string::npos);

    ChildSpec empty;
    result.reset();
    child = ChildProcess::start(loop, std::move(empty), [&](ScriptResult r) {
        result = std::move(r);
        loop.stop();
    });
    loop.run();
    REQUIRE(result);
    CHECK(result->error == "no command");
}

TEST_CASE("child: cancel kills the group and drops the callback") {
    EventLoop loop;
    bool called = false;
    auto child = ChildProcess::start(loop, sh("sleep 30"), [&](ScriptResult) { called = true; });
    const pid_t pid = child->pid();
    REQUIRE(pid > 0);
    loop.after(100ms, [&] {
        child->cancel();
        loop.after(300ms, [&] { loop.stop(); });
    });
    loop.run();
    CHECK_FALSE(called);
    CHECK(child->finished());
    child.reset();               // reaps what cancel() could not yet
    CHECK(::kill(pid, 0) != 0);  // killed and reaped
}

TEST_CASE("child: the synchronous run_command still works") {
    const auto r = run_command({"/bin/sh", "-c", "echo \"$NRA_X\"; exit 4"}, {"NRA_X=hello"}, 5s);
    CHECK(r.started);
    CHECK(r.exit_code == 4);
    CHECK(r.out == "hello\n");
    const auto t = run_command({"sleep", "30"}, {}, 200ms);
    CHECK(t.timed_out);
    const auto s = run_script("/bin/true", "pre", 5s);
    CHECK(s.ok());
}
