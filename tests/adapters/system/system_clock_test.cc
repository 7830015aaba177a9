#include "adapters/system/system_clock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace dl::adapters::system {
namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

TEST(SystemClock, NowIsTheSystemClock) {
  SystemClock clock;
  auto before = std::chrono::system_clock::now();
  auto now = clock.Now();
  auto after = std::chrono::system_clock::now();
  EXPECT_LE(before, now);
  EXPECT_LE(now, after);
}

TEST(SystemClock, APastTargetReturnsAtOnce) {
  SystemClock clock;
  auto start = Steady::now();
  EXPECT_TRUE(clock.SleepUntil(clock.Now() - 1h));
  EXPECT_LT(Steady::now() - start, 1s);
}

TEST(SystemClock, SleepsUntilTheTarget) {
  SystemClock clock;
  auto target = clock.Now() + 30ms;
  EXPECT_TRUE(clock.SleepUntil(target));
  EXPECT_GE(clock.Now(), target);
}

TEST(SystemClock, InterruptEndsASleepAndEveryLaterOne) {
  SystemClock clock;
  auto start = Steady::now();
  bool result = true;
  std::thread sleeper([&] { result = clock.SleepUntil(clock.Now() + 1h); });
  // Interrupt is sticky, so it does not matter whether the sleeper is already
  // waiting: either way its sleep must end now.
  clock.Interrupt();
  sleeper.join();
  EXPECT_FALSE(result);
  EXPECT_LT(Steady::now() - start, 10s);
  EXPECT_TRUE(clock.Interrupted());
  EXPECT_FALSE(clock.SleepUntil(clock.Now() + 1h));
  EXPECT_FALSE(clock.SleepUntil(clock.Now() - 1s)) << "shutdown wins over a past target";
}

TEST(SystemClock, AStopFlagEndsASleepWithinThePollInterval) {
  std::atomic<bool> stop{false};
  SystemClock clock(&stop, 5ms);
  EXPECT_FALSE(clock.Interrupted());
  auto start = Steady::now();
  bool result = true;
  std::thread sleeper([&] { result = clock.SleepUntil(clock.Now() + 1h); });
  stop.store(true);  // as a signal handler would
  sleeper.join();
  EXPECT_FALSE(result);
  EXPECT_LT(Steady::now() - start, 10s);
  EXPECT_TRUE(clock.Interrupted());
}

}  // namespace
}  // namespace dl::adapters::system
