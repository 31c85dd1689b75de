#include "nra/base/backoff.hpp"

#include <algorithm>
#include <memory>

namespace nra {

Backoff::Backoff()
    : now_([] { return Clock::now(); }), random_([rng = std::make_shared<std::mt19937_64>(std::random_device{}())] {
          return std::uniform_real_distribution<double>(0.0, 1.0)(*rng);
      }) {}

Backoff::Backoff(std::function<Clock::time_point()> now, Random random)
    : now_(std::move(now)), random_(std::move(random)) {}

std::chrono::milliseconds Backoff::next() {
    const auto now = now_();
    if (steps_ > 0 && now - last_failure_ > kResetAfter) steps_ = 0;
    last_failure_ = now;
    const double cap = static_cast<double>(kCap.count());
    double base = static_cast<double>(kInitial.count());
    for (unsigned i = 0; i < steps_ && base < cap; ++i) base *= 2;
    if (steps_ < 32) ++steps_;
    base = std::min(base, cap);
    const double jitter = std::clamp(random_(), 0.0, 1.0);
    return std::chrono::milliseconds(static_cast<long long>(std::min(base * (1.0 + jitter), cap)));
}

}  // namespace nra
