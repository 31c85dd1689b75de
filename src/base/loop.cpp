#include "nra/base/loop.hpp"

#include <sys/timerfd.h>

#include <cerrno>
#include <system_error>
#include <vector>

namespace nra {

EventLoop::EventLoop()
    : epfd_(::epoll_create1(EPOLL_CLOEXEC)), timerfd_(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) {
    if (!epfd_) throw std::system_error(errno, std::generic_category(), "epoll_create1");
    if (!timerfd_) throw std::system_error(errno, std::generic_category(), "timerfd_create");
    add(timerfd_.get(), EPOLLIN, [this](std::uint32_t) {
        std::uint64_t expirations;
        while (::read(timerfd_.get(), &expirations, sizeof expirations) > 0) {}
        fire_timers();
    });
}

namespace {
std::uint64_t tag(int fd, std::uint32_t generation) {
    return (static_cast<std::uint64_t>(generation) << 32) | static_cast<std::uint32_t>(fd);
}
}  // namespace

void EventLoop::add(int fd, std::uint32_t events, Handler h) {
    const std::uint32_t gen = ++generation_;
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = tag(fd, gen);
    if (::epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, fd, &ev) < 0)
        throw std::system_error(errno, std::generic_category(), "epoll_ctl add");
    handlers_[fd] = Registration{std::move(h), gen};
}

void EventLoop::modify(int fd, std::uint32_t events) {
    auto it = handlers_.find(fd);
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = tag(fd, it == handlers_.end() ? 0 : it->second.generation);
    if (::epoll_ctl(epfd_.get(), EPOLL_CTL_MOD, fd, &ev) < 0)
        throw std::system_error(errno, std::generic_category(), "epoll_ctl mod");
}

void EventLoop::remove(int fd) {
    ::epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, fd, nullptr);
    handlers_.erase(fd);
}

EventLoop::TimerId EventLoop::at(Clock::time_point when, std::function<void()> cb) {
    const TimerId id = next_id_++;
    timers_.emplace(when, std::make_pair(id, std::move(cb)));
    arm_timer();
    return id;
}

void EventLoop::cancel(TimerId id) {
    for (auto it = timers_.begin(); it != timers_.end(); ++it) {
        if (it->second.first == id) {
            timers_.erase(it);
            arm_timer();
            return;
        }
    }
}

void EventLoop::after_dispatch(std::function<void()> hook) { hooks_.push_back(std::move(hook)); }

void EventLoop::arm_timer() {
    itimerspec its{};
    if (!timers_.empty()) {
        auto d = timers_.begin()->first - Clock::now();
        if (d <= Clock::duration::zero()) d = std::chrono::nanoseconds(1);
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
        its.it_value.tv_sec = ns / 1000000000;
        its.it_value.tv_nsec = ns % 1000000000;
    }
    ::timerfd_settime(timerfd_.get(), 0, &its, nullptr);
}

void EventLoop::fire_timers() {
    const auto now = Clock::now();
    std::vector<std::function<void()>> due;
    while (!timers_.empty() && timers_.begin()->first <= now) {
        due.push_back(std::move(timers_.begin()->second.second));
        timers_.erase(timers_.begin());
    }
    arm_timer();
    for (auto& cb : due) cb();
}

void EventLoop::run() {
    running_ = true;
    epoll_event events[64];
    while (running_) {
        const int timeout = wake_ ? 0 : -1;
        wake_ = false;
        const int n = ::epoll_wait(epfd_.get(), events, 64, timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw std::system_error(errno, std::generic_category(), "epoll_wait");
        }
        for (int i = 0; i < n && running_; ++i) {
            const int fd = static_cast<int>(static_cast<std::uint32_t>(events[i].data.u64));
            const auto gen = static_cast<std::uint32_t>(events[i].data.u64 >> 32);
            auto it = handlers_.find(fd);
            // Removed by an earlier handler in this round, or the number
            // reused by a newer registration: the event is not for it.
            if (it == handlers_.end() || it->second.generation != gen) continue;
            Handler h = it->second.handler;  // the handler may remove itself
            h(events[i].events);
        }
        for (auto& hook : hooks_) {
            if (!running_) break;
            hook();
        }
    }
}

}  // namespace nra
