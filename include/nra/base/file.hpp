// Whole-file reads: configuration files, tokens, certificates, procfs (whose
// files report size 0, so the file is read until EOF, never by its size).
#pragma once

#include <cstddef>
#include <string>

namespace nra {

// Reads all of `path` into `out`. On failure returns false and sets `err` to
// "cannot open PATH: reason", "cannot read PATH: reason" or "PATH is larger
// than N MiB".
bool read_whole_file(const std::string& path, std::string& out, std::string& err,
                     std::size_t max_size = 64 * 1024 * 1024);

}  // namespace nra
