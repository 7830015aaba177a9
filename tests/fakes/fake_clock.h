// ports::Clock for tests: time stands still until a test moves it or code
// under test sleeps; SleepUntil jumps straight to its target (never sleeps
// for real) and records the target. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "ports/clock.h"

namespace dl::fakes {

class FakeClock final : public ports::Clock {
 public:
  // 2023-11-14T22:13:20Z: a fixed, unremarkable instant.
  static constexpr int64_t kDefaultStartEpochS = 1'700'000'000;

  explicit FakeClock(int64_t start_epoch_s = kDefaultStartEpochS);
  static TimePoint FromEpochSeconds(int64_t s);
  static int64_t ToEpochSeconds(TimePoint t);  // floor

  TimePoint Now() const override;
  // Records t; unless an interruption is armed, moves time to t (never back)
  // and runs the hook. Returns false when interrupted.
  bool SleepUntil(TimePoint t) override;

  int64_t NowEpochS() const;
  void Set(TimePoint t);
  void SetEpochS(int64_t s);
  void Advance(std::chrono::milliseconds d);

  // Every SleepUntil target so far, in order.
  std::vector<TimePoint> Sleeps() const;
  // The SleepUntil calls from now on return false (without moving time)
  // after `allowed_sleeps` more successful ones.
  void InterruptAfter(int allowed_sleeps);
  // Runs (outside the clock's lock) after each successful SleepUntil, with
  // the new time: lets a test change the world while code waits.
  void OnSleep(std::function<void(TimePoint)> hook);

 private:
  mutable std::mutex mu_;
  TimePoint now_;
  std::vector<TimePoint> sleeps_;
  int allowed_sleeps_ = -1;  // -1: never interrupt
  std::function<void(TimePoint)> hook_;
};

}  // namespace dl::fakes
