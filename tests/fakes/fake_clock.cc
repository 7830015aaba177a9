#include "fakes/fake_clock.h"

#include <algorithm>

namespace dl::fakes {

FakeClock::FakeClock(int64_t start_epoch_s) : now_(FromEpochSeconds(start_epoch_s)) {}

ports::Clock::TimePoint FakeClock::FromEpochSeconds(int64_t s) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::seconds(s)));
}

int64_t FakeClock::ToEpochSeconds(TimePoint t) {
  return std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
}

ports::Clock::TimePoint FakeClock::Now() const {
  std::lock_guard lock(mu_);
  return now_;
}

bool FakeClock::SleepUntil(TimePoint t) {
  std::function<void(TimePoint)> hook;
  TimePoint now;
  {
    std::lock_guard lock(mu_);
    sleeps_.push_back(t);
    if (allowed_sleeps_ == 0) return false;
    if (allowed_sleeps_ > 0) --allowed_sleeps_;
    now_ = std::max(now_, t);
    now = now_;
    hook = hook_;
  }
  if (hook) hook(now);
  return true;
}

int64_t FakeClock::NowEpochS() const { return ToEpochSeconds(Now()); }

void FakeClock::Set(TimePoint t) {
  std::lock_guard lock(mu_);
  now_ = t;
}

void FakeClock::SetEpochS(int64_t s) { Set(FromEpochSeconds(s)); }

void FakeClock::Advance(std::chrono::milliseconds d) {
  std::lock_guard lock(mu_);
  now_ += d;
}

std::vector<ports::Clock::TimePoint> FakeClock::Sleeps() const {
  std::lock_guard lock(mu_);
  return sleeps_;
}

void FakeClock::InterruptAfter(int allowed_sleeps) {
  std::lock_guard lock(mu_);
  allowed_sleeps_ = allowed_sleeps;
}

void FakeClock::OnSleep(std::function<void(TimePoint)> hook) {
  std::lock_guard lock(mu_);
  hook_ = std::move(hook);
}

}  // namespace dl::fakes
