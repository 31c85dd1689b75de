// The event loop and the static-file source without root: timers, hooks,
// handlers that remove themselves or reuse a number, and the source's
// deliveries and refusals on a real directory with inotify.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <fstream>
#include <string>
#include <vector>

#include "nra/base/fd.hpp"
#include "nra/base/log.hpp"
#include "nra/base/loop.hpp"
#include "nra/sources/static_file.hpp"

using namespace nra;
using namespace std::chrono_literals;

namespace {

// Runs a loop until a condition holds or a guard expires. One after-dispatch
// hook per loop (hooks cannot be removed), checking the current condition.
class Runner {
public:
    explicit Runner(EventLoop& loop) : loop_(loop) {
        loop_.after_dispatch([this] {
            if (done_ && done_()) loop_.stop();
        });
    }
    bool until(std::function<bool()> done, std::chrono::milliseconds guard = 3000ms) {
        done_ = std::move(done);
        bool timed_out = false;
        const auto g = loop_.after(guard, [&] {
            timed_out = true;
            loop_.stop();
        });
        while (!done_() && !timed_out) loop_.run();
        loop_.cancel(g);
        const bool ok = done_();
        done_ = nullptr;
        return ok;
    }

private:
    EventLoop& loop_;
    std::function<bool()> done_;
};

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        char tmpl[] = "/tmp/nra-unit-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

void write_file(const std::filesystem::path& p, const std::string& text) { std::ofstream(p, std::ios::trunc) << text; }

const char* kConfig =
    "peers:\n- peer-address: 10.0.0.1\naddress-pools:\n- name: a\n  protocol: bgp\n  addresses: [192.168.57.0/24]\n";

struct QuietLog {
    QuietLog() { log::init(log::Level::Error, log::Format::Json); }
    ~QuietLog() { log::init(log::Level::Info, log::Format::Json); }
};

}  // namespace

TEST_CASE("loop: timers fire in deadline order, a cancelled one never") {
    EventLoop loop;
    std::vector<int> order;
    loop.after(30ms, [&] { order.push_back(3); });
    loop.after(10ms, [&] { order.push_back(1); });
    const auto gone = loop.after(20ms, [&] { order.push_back(99); });
    loop.after(20ms, [&] { order.push_back(2); });
    loop.cancel(gone);
    Runner run(loop);
    REQUIRE(run.until([&] { return order.size() == 3; }));
    CHECK(order == std::vector<int>{1, 2, 3});
}

TEST_CASE("loop: after-dispatch hooks run once per round, wake() makes another round") {
    EventLoop loop;
    int rounds = 0, wakes = 3;
    loop.after_dispatch([&] {
        ++rounds;
        if (wakes-- > 0) loop.wake();
    });
    loop.after(20ms, [] {});
    Runner run(loop);
    // The timer's round, then one more per wake(): 4 in all, then it sleeps.
    REQUIRE(run.until([&] { return rounds >= 4; }));
    run.until([] { return false; }, 100ms);
    CHECK(rounds == 4);  // no wake, no event: it slept (the guard stops it before the hooks run)
}

TEST_CASE("loop: a handler may remove itself and the next registration of its number gets only its own events") {
    EventLoop loop;
    int p[2];
    REQUIRE(::pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
    Fd r(p[0]), w(p[1]);
    int first = 0, second = 0;
    loop.add(r.get(), EPOLLIN, [&](std::uint32_t) {
        ++first;
        loop.remove(r.get());
        // Same number, new registration (as a closed and reopened fd would be).
        loop.add(r.get(), EPOLLIN, [&](std::uint32_t) {
            char c;
            while (::read(r.get(), &c, 1) == 1) {}
            ++second;
        });
    });
    REQUIRE(::write(w.get(), "x", 1) == 1);
    Runner run(loop);
    REQUIRE(run.until([&] { return second >= 1; }));
    CHECK(first == 1);
    loop.remove(r.get());
}

TEST_CASE("static file source: delivers on rename, refuses empty and invalid files, keeps quiet on unchanged bytes") {
    QuietLog quiet;
    TempDir dir;
    const auto cfg = dir.path / "config.yaml";
    write_file(cfg, kConfig);
    EventLoop loop;
    auto source = make_static_file_source(cfg.string(), 0ms);
    int configs = 0;
    std::vector<std::string> failures;
    Model last;
    Source::Callbacks cb;
    cb.config = [&](Model m) {
        ++configs;
        last = std::move(m);
    };
    cb.failed = [&](const std::string& e) { failures.push_back(e); };
    Runner run(loop);
    source->start(loop, cb);
    REQUIRE(run.until([&] { return configs == 1; }));
    CHECK(last.peers.size() == 1);

    // An empty file: not a configuration, refused (the last good one stays).
    write_file(dir.path / "empty.tmp", "");
    std::filesystem::rename(dir.path / "empty.tmp", cfg);
    REQUIRE(run.until([&] { return failures.size() == 1; }));
    CHECK(configs == 1);

    // Invalid YAML: refused with where.
    write_file(dir.path / "bad.tmp", "peers: [\n");
    std::filesystem::rename(dir.path / "bad.tmp", cfg);
    REQUIRE(run.until([&] { return failures.size() == 2; }));
    CHECK(failures.back().find("line") != std::string::npos);

    // A new valid configuration by rename: delivered.
    write_file(dir.path / "new.tmp", std::string(kConfig) + "- name: b\n  protocol: bgp\n  addresses: [10.9.0.0/16]\n");
    std::filesystem::rename(dir.path / "new.tmp", cfg);
    REQUIRE(run.until([&] { return configs == 2; }));
    CHECK(last.addresses.size() == 2);

    // The same bytes again (a touch): nothing delivered.
    write_file(dir.path / "same.tmp",
               std::string(kConfig) + "- name: b\n  protocol: bgp\n  addresses: [10.9.0.0/16]\n");
    std::filesystem::rename(dir.path / "same.tmp", cfg);
    run.until([] { return false; }, 300ms);
    CHECK(configs == 2);
}

TEST_CASE("static file source: a FIFO at the path is refused without blocking") {
    QuietLog quiet;
    TempDir dir;
    const auto cfg = dir.path / "config.yaml";
    REQUIRE(::mkfifo(cfg.c_str(), 0600) == 0);
    EventLoop loop;
    auto source = make_static_file_source(cfg.string(), 0ms);
    std::vector<std::string> failures;
    Source::Callbacks cb;
    cb.config = [](Model) { FAIL("a FIFO delivered a configuration"); };
    cb.failed = [&](const std::string& e) { failures.push_back(e); };
    Runner run(loop);
    source->start(loop, cb);  // must return: open() never waits for a writer
    REQUIRE(run.until([&] { return !failures.empty(); }));
    CHECK(failures.front().find("not a regular file") != std::string::npos);
}
