// Whole-file reads: configuration files, tokens, certificates, procfs (whose
// files report size 0, so the file is read until EOF, never by its size).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <ctime>
#include <string>

#include "nra/base/result.hpp"

namespace nra {

// Identity and version of a file as fstat saw it when it was opened.
struct FileStamp {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = -1;
    timespec mtime{}, ctime{};
    bool operator==(const FileStamp& o) const {
        return dev == o.dev && ino == o.ino && size == o.size && mtime.tv_sec == o.mtime.tv_sec &&
               mtime.tv_nsec == o.mtime.tv_nsec && ctime.tv_sec == o.ctime.tv_sec && ctime.tv_nsec == o.ctime.tv_nsec;
    }
};

// Reads all of `path`. Never blocks on a FIFO or a device: the file is
// opened non-blocking and anything that is not a regular file (after
// following symlinks) is refused. Fails with "cannot open PATH: reason",
// "cannot read PATH: reason", "PATH is not a regular file (a FIFO)" or
// "PATH is larger than N MiB". `stamp`, when given, receives the file's
// fstat identity at open.
Result<std::string> read_whole_file(const std::string& path, std::size_t max_size = 64 * 1024 * 1024,
                                    FileStamp* stamp = nullptr);

}  // namespace nra
