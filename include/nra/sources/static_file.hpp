// The legacy MetalLB YAML read from a file, watched with inotify on its
// directory (atomic renames, editors' save patterns and Kubernetes' ..data
// symlink swaps all land there), plus a slow stat() safety re-check.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "nra/core/model.hpp"
#include "nra/sources/source.hpp"

namespace nra {

struct FileLoad {
    std::optional<Model> model;  // set when the file is a valid configuration
    std::string error;           // "cannot read ...", "line 3 column 7: ..."
    std::vector<Diagnostic> diagnostics;  // entries skipped
    std::string text;            // the file's content
};

// Reads and parses the file once (used by ONESHOT and by the watcher).
FileLoad load_static_file(const std::string& path);
// Parses text already read from `path` (named in errors).
FileLoad parse_static_text(const std::string& path, std::string text);

std::unique_ptr<Source> make_static_file_source(const std::string& path, std::chrono::milliseconds recheck);

}  // namespace nra
