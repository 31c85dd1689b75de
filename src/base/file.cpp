#include "nra/base/file.hpp"

#include <fcntl.h>

#include <cerrno>
#include <cstring>

#include "nra/base/fd.hpp"

namespace nra {

bool read_whole_file(const std::string& path, std::string& out, std::string& err, std::size_t max_size) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        err = "cannot open " + path + ": " + std::strerror(errno);
        return false;
    }
    out.clear();
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            err = "cannot read " + path + ": " + std::strerror(errno);
            return false;
        }
        if (n == 0) return true;
        out.append(buf, static_cast<std::size_t>(n));
        if (out.size() > max_size) {
            err = path + " is larger than " + std::to_string(max_size >> 20) + " MiB";
            return false;
        }
    }
}

}  // namespace nra
