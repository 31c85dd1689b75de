#include "nra/base/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "nra/base/fd.hpp"

namespace nra {

namespace {

const char* type_name(mode_t m) {
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

std::string mib(std::size_t n) {
    if (n % (1024 * 1024) == 0) return std::to_string(n >> 20) + " MiB";
    return std::to_string(n) + " bytes";
}

bool read_into(const std::string& path, std::string& out, std::string& err, std::size_t max_size, FileStamp* stamp) {
    // O_NONBLOCK: opening a FIFO (or a device) must never wait for a writer;
    // what is not a regular file is refused right after, before any read.
    Fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
    if (!fd) {
        err = "cannot open " + path + ": " + std::strerror(errno);
        return false;
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        err = "cannot stat " + path + ": " + std::strerror(errno);
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        err = path + " is not a regular file (" + type_name(st.st_mode) + ")";
        return false;
    }
    if (static_cast<std::size_t>(st.st_size) > max_size) {
        err = path + " is larger than " + mib(max_size) + " (" + std::to_string(st.st_size) + " bytes)";
        return false;
    }
    if (stamp) *stamp = FileStamp{st.st_dev, st.st_ino, st.st_size, st.st_mtim, st.st_ctim};
    out.clear();
    // Sized from fstat (one allocation, no doubling); procfs reports 0 and
    // grows as read. One byte more to see EOF without a second growth.
    out.resize(static_cast<std::size_t>(st.st_size) + 1);
    std::size_t have = 0;
    for (;;) {
        if (have == out.size()) {
            if (out.size() > max_size) {
                err = path + " is larger than " + mib(max_size);
                out.clear();
                out.shrink_to_fit();
                return false;
            }
            out.resize(std::min(max_size + 1, std::max<std::size_t>(out.size() * 2, 4096)));
        }
        const ssize_t n = ::read(fd.get(), out.data() + have, out.size() - have);
        if (n < 0) {
            if (errno == EINTR) continue;
            err = "cannot read " + path + ": " + std::strerror(errno);
            out.clear();
            return false;
        }
        if (n == 0) break;
        have += static_cast<std::size_t>(n);
    }
    if (have > max_size) {
        err = path + " is larger than " + mib(max_size);
        out.clear();
        out.shrink_to_fit();
        return false;
    }
    out.resize(have);
    if (out.capacity() > have + 4096) out.shrink_to_fit();
    return true;
}

}  // namespace

Result<std::string> read_whole_file(const std::string& path, std::size_t max_size, FileStamp* stamp) {
    std::string text, err;
    if (!read_into(path, text, err, max_size, stamp)) return Result<std::string>::fail(std::move(err));
    return Result<std::string>::ok(std::move(text));
}

}  // namespace nra
