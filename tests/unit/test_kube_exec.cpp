// Exec credential plugins on the event loop: real plugin scripts (sh), no root.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <string>

#include "nra/base/loop.hpp"
#include "nra/kube/config.hpp"

using namespace nra;
using namespace nra::kube;
using namespace std::chrono_literals;

namespace {

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/nra-exec-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { std::system(("rm -rf " + path).c_str()); }
    std::string write(const std::string& name, const std::string& text) {
        const std::string p = path + "/" + name;
        std::ofstream(p) << text;
        ::chmod(p.c_str(), 0755);
        return p;
    }
};

// A plugin that prints the token in `dir`/token after sleeping `dir`/delay
// seconds, or garbage when `dir`/garbage exists; counts its runs.
std::string plugin(TempDir& d) {
    return d.write("plugin.sh",
                   "#!/bin/sh\n"
                   "d=" +
                       d.path +
                       "\n"
                       "echo run >> $d/runs\n"
                       "[ -f $d/delay ] && sleep $(cat $d/delay)\n"
                       "[ -f $d/garbage ] && { echo 'not json at all'; exit 0; }\n"
                       "printf '{\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%s\"}}' \"$(cat $d/token)\"\n");
}

int runs(TempDir& d) {
    std::ifstream f(d.path + "/runs");
    int n = 0;
    std::string line;
    while (std::getline(f, line)) ++n;
    return n;
}

void spin(EventLoop& loop, std::chrono::milliseconds d) {
    loop.after(d, [&] { loop.stop(); });
    loop.run();
}

}  // namespace

TEST_CASE("exec plugin: refresh point before expiry") {
    using std::chrono::seconds;
    CHECK(TokenSource::refresh_after(seconds(3600)) == seconds(3300));  // 10 % = 6 min, capped at 5 min
    CHECK(TokenSource::refresh_after(seconds(600)) == seconds(540));    // 10 %
    CHECK(TokenSource::refresh_after(seconds(60)) == seconds(50));      // at least 10 s
    CHECK(TokenSource::refresh_after(seconds(8)) == seconds(4));        // never more than half
    CHECK(TokenSource::refresh_after(seconds(0)) == seconds(0));
}

TEST_CASE("exec plugin: runs on the loop, the previous token serves until the new one arrives") {
    TempDir d;
    d.write("token", "tok-1");
    EventLoop loop;
    ApiConfig::ExecPlugin p;
    p.command = plugin(d);
    p.api_version = "client.authentication.k8s.io/v1";
    TokenSource ts(p, &loop);
    CHECK(ts.get().empty());  // no token yet: the run started, nothing waited
    CHECK(ts.plugin_running());
    bool ready = false;
    ts.when_ready([&] {
        ready = true;
        loop.stop();
    });
    CHECK_FALSE(ready);
    loop.after(10s, [&] { loop.stop(); });
    loop.run();
    CHECK(ready);
    CHECK(ts.get() == "tok-1");

    // A 401: the next get() starts a run and returns the old token meanwhile.
    d.write("token", "tok-2");
    d.write("delay", "0.5");
    ts.invalidate();
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(ts.get() == "tok-1");
    CHECK(std::chrono::steady_clock::now() - t0 < 200ms);  // did not wait for the plugin
    CHECK(ts.plugin_running());
    spin(loop, 1500ms);
    CHECK_FALSE(ts.plugin_running());
    CHECK(ts.get() == "tok-2");
    CHECK(runs(d) == 2);

    // Garbage: logged, the previous token kept, retried after a pause.
    ::unlink((d.path + "/delay").c_str());
    d.write("garbage", "");
    ts.invalidate();
    CHECK(ts.get() == "tok-2");
    spin(loop, 500ms);
    CHECK(runs(d) == 3);
    CHECK(ts.get() == "tok-2");
    CHECK(runs(d) == 3);  // not re-run on every request
    spin(loop, 1500ms);   // the 1 s retry
    CHECK(runs(d) == 4);
    ::unlink((d.path + "/garbage").c_str());
    d.write("token", "tok-3");
    spin(loop, 2500ms);  // the 2 s retry succeeds
    CHECK(runs(d) == 5);
    CHECK(ts.get() == "tok-3");
}
