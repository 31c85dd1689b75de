// metallb-nra: entry point. Parses settings (exit 2 on invalid or dangerous
// values, before anything is touched) and runs the agent.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "nra/agent/agent.hpp"
#include "nra/agent/config.hpp"
#include "nra/base/log.hpp"

int main(int argc, char** argv) {
    ::signal(SIGPIPE, SIG_IGN);
    std::vector<std::string> args(argv + 1, argv + argc);
    const auto res = nra::load_config(args, [](const char* name) { return std::getenv(name); });
    if (res.help) {
        std::fputs(nra::usage_text().c_str(), stdout);
        return 0;
    }
    if (res.version) {
        std::printf("metallb-nra %s\n", NRA_VERSION);
        return 0;
    }
    if (!res.config) {
        std::fprintf(stderr, "metallb-nra: %s\n", res.error.c_str());
        return 2;
    }
    nra::log::init(res.config->log_level, res.config->log_format);
    try {
        return nra::run_agent(*res.config);
    } catch (const std::exception& e) {
        nra::log::error("fatal error", {{"error", e.what()}});
        return 1;
    }
}
