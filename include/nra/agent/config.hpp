// Agent configuration: the upstream agent's environment variables (same names
// and defaults) and equivalent command-line flags (flags win). Validation
// refuses invalid and dangerous values before anything is touched.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "nra/base/http_server.hpp"
#include "nra/base/log.hpp"
#include "nra/core/desired.hpp"
#include "nra/core/nexthop_objects.hpp"
#include "nra/sources/kube_source.hpp"

namespace nra {

struct Config {
    Settings settings;
    NexthopSettings nexthops;                             // NEXTHOP_OBJECTS and the group's parameters
    std::chrono::milliseconds max_reconcile_wait{60000};  // 0 = timer disabled
    std::chrono::milliseconds static_file_wait{5000};     // safety re-check of the static file
    std::chrono::milliseconds sync_timeout{30000};        // ONESHOT in Kubernetes modes
    std::string static_file;
    std::string pre_script;
    std::string post_script;
    KubeOptions kube;
    log::Level log_level = log::Level::Info;
    log::Format log_format = log::Format::Json;
    bool log_format_set = false;  // LOG_FORMAT / --log-format given (DRY_RUN prints JSON only then)
    std::optional<http::ListenAddress> metrics_address;  // METRICS_ADDRESS; unset = no listener
    bool oneshot = false;
    bool dry_run = false;  // DRY_RUN: print what would change, touch nothing
    bool clean_and_exit = false;
};

struct ConfigResult {
    std::optional<Config> config;  // set when valid and neither help nor version was asked
    std::string error;             // names the variable/flag and the value
    bool help = false;
    bool version = false;
};

using GetEnv = std::function<const char*(const char*)>;

ConfigResult load_config(const std::vector<std::string>& args, const GetEnv& getenv);

std::string usage_text();

}  // namespace nra
