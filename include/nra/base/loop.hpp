// The one epoll loop: fds with handlers (the loop does not own them), one
// timerfd serving a set of deadlines, and "after dispatch" hooks so a burst of
// events costs one reconcile.
#pragma once

#include <sys/epoll.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <unordered_map>

#include "nra/base/fd.hpp"

namespace nra {

class EventLoop {
public:
    using Clock = std::chrono::steady_clock;
    using Handler = std::function<void(std::uint32_t events)>;
    using TimerId = std::uint64_t;

    EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    void add(int fd, std::uint32_t events, Handler h);
    void modify(int fd, std::uint32_t events);
    void remove(int fd);

    TimerId at(Clock::time_point when, std::function<void()> cb);
    TimerId after(std::chrono::milliseconds d, std::function<void()> cb) { return at(Clock::now() + d, std::move(cb)); }
    void cancel(TimerId id);

    // Runs after every dispatch round, in registration order.
    void after_dispatch(std::function<void()> hook);

    // Make the next wait non-blocking (a hook has more to do).
    void wake() { wake_ = true; }

    void run();
    void stop() { running_ = false; }
    bool running() const { return running_; }

private:
    void arm_timer();
    void fire_timers();

    Fd epfd_;
    Fd timerfd_;
    // A registration: its handler and a generation, carried in the epoll
    // event with the fd, so an event queued for a closed fd is never handed
    // to a new registration that reuses the number in the same round.
    struct Registration {
        Handler handler;
        std::uint32_t generation = 0;
    };
    std::unordered_map<int, Registration> handlers_;
    std::uint32_t generation_ = 0;
    std::multimap<Clock::time_point, std::pair<TimerId, std::function<void()>>> timers_;
    std::vector<std::function<void()>> hooks_;
    TimerId next_id_ = 1;
    bool running_ = false;
    bool wake_ = false;
};

}  // namespace nra
