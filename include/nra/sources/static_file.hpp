// The legacy MetalLB YAML read from a file, watched with inotify on its
// directory (atomic renames, editors' save patterns and Kubernetes' ..data
// symlink swaps all land there), plus a slow stat() safety re-check.
//
// A file is read only when it is complete: at once when its writer closes it
// (IN_CLOSE_WRITE) or when it is renamed into place (IN_MOVED_TO), never on a
// write alone; a writer that keeps the file open is read after the file has
// stayed unchanged for kQuietPeriod. A read during which the file changed
// again is discarded. A file with any problem (an unknown key, an invalid
// address, a pool without protocol, ...: core/legacy.hpp, LegacyRules::File)
// is refused whole and the last good configuration stays. An empty (whitespace or comments only) file, or one
// without a peers or address-pools list, is not a configuration: the last
// good one stays (at start nothing is touched). Removing all routing on
// purpose takes `peers: []` or `address-pools: []`.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

#include "nra/core/model.hpp"
#include "nra/sources/source.hpp"

namespace nra {

// The largest static file read: a ConfigMap holds at most 1 MiB; the static
// file gets room for 16 times that (a parse costs about 10 bytes of memory
// per input byte, see docs/reliability/staticfile.md).
constexpr std::size_t kMaxStaticFileSize = 16 * 1024 * 1024;
// A file modified but not closed is read once unchanged for this long.
constexpr std::chrono::milliseconds kQuietPeriod{1000};

struct FileLoad {
    std::optional<Model> model;  // set when the file is a valid configuration
    std::string error;           // "cannot read ...", "line 3 column 7: ..."
    bool empty = false;          // the error is "no configuration in the file" (empty, comments only, no lists)
    std::vector<Diagnostic> diagnostics;  // the problems that refused the file (error says how many)
};

// Reads and parses the file once (used by ONESHOT and by the watcher).
FileLoad load_static_file(const std::string& path);
// Parses text already read from `path` (named in errors).
FileLoad parse_static_text(const std::string& path, std::string_view text);

std::unique_ptr<Source> make_static_file_source(const std::string& path, std::chrono::milliseconds recheck);

}  // namespace nra
