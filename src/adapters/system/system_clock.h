// The real clock behind ports::Clock, with sleeps that end early on request.
//
// Two ways to interrupt a sleep, both sticky (every later SleepUntil returns
// false at once):
//  - Interrupt(), from any thread;
//  - a caller-owned std::atomic<bool> stop flag, for signal handlers (which
//    may store to a lock-free atomic but may not touch a mutex). The flag is
//    polled every `poll` while sleeping, so a signal ends a sleep within it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "ports/clock.h"

namespace dl::adapters::system {

class SystemClock final : public ports::Clock {
 public:
  // `stop` is not owned and must outlive the clock; nullptr for none.
  explicit SystemClock(const std::atomic<bool>* stop = nullptr,
                       std::chrono::milliseconds poll = std::chrono::milliseconds(100));

  TimePoint Now() const override;
  // Returns true once `t` is reached; false as soon as interrupted (also when
  // already interrupted on entry). Thread-safe.
  bool SleepUntil(TimePoint t) override;

  void Interrupt();
  bool Interrupted() const;

 private:
  bool StopRequestedLocked() const;

  const std::atomic<bool>* stop_;
  std::chrono::milliseconds poll_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool interrupted_ = false;
};

}  // namespace dl::adapters::system
