#include "nra/base/signals.hpp"

#include <sys/signalfd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>

namespace nra {

Result<Fd> signal_fd(std::initializer_list<int> signals) {
    sigset_t mask;
    sigemptyset(&mask);
    for (int s : signals) sigaddset(&mask, s);
    if (::sigprocmask(SIG_BLOCK, &mask, nullptr) != 0)
        return Result<Fd>::fail(std::string("sigprocmask: ") + std::strerror(errno));
    Fd fd(::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!fd) return Result<Fd>::fail(std::string("signalfd: ") + std::strerror(errno));
    return Result<Fd>::ok(std::move(fd));
}

}  // namespace nra
