#include "adapters/system/system_clock.h"

#include <algorithm>

namespace dl::adapters::system {

SystemClock::SystemClock(const std::atomic<bool>* stop, std::chrono::milliseconds poll)
    : stop_(stop), poll_(std::max(poll, std::chrono::milliseconds(1))) {}

ports::Clock::TimePoint SystemClock::Now() const { return std::chrono::system_clock::now(); }

bool SystemClock::StopRequestedLocked() const {
  return interrupted_ || (stop_ != nullptr && stop_->load(std::memory_order_relaxed));
}

bool SystemClock::SleepUntil(TimePoint t) {
  std::unique_lock lock(mu_);
  for (;;) {
    if (StopRequestedLocked()) return false;
    TimePoint now = Now();
    if (now >= t) return true;
    // Without a stop flag only Interrupt() can end the wait early, and it
    // notifies; with one, wake up every poll_ to look at it.
    TimePoint wake = stop_ == nullptr ? t : std::min(t, now + poll_);
    cv_.wait_until(lock, wake);
  }
}

void SystemClock::Interrupt() {
  {
    std::lock_guard lock(mu_);
    interrupted_ = true;
  }
  cv_.notify_all();
}

bool SystemClock::Interrupted() const {
  std::lock_guard lock(mu_);
  return StopRequestedLocked();
}

}  // namespace dl::adapters::system
