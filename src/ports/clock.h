// The injected time source. Production uses the system clock; tests use a
// fake that advances on SleepUntil without sleeping.
#pragma once

#include <chrono>

namespace dl::ports {

class Clock {
 public:
  using TimePoint = std::chrono::system_clock::time_point;
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
  // Blocks until `t` (returns at once when t is past). Returns false when
  // interrupted (shutdown requested) before t.
  virtual bool SleepUntil(TimePoint t) = 0;
};

}  // namespace dl::ports
