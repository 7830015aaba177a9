#include "app/console.h"

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include <gtest/gtest.h>

namespace dl::app {
namespace {

std::string Capture(const std::function<void(ConsoleReporter&)>& f, bool tty, bool quiet) {
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* mem = open_memstream(&buf, &len);
  {
    ConsoleReporter r(mem, tty, quiet);
    f(r);
    r.Finish();
  }
  std::fclose(mem);
  std::string out(buf, len);
  std::free(buf);
  return out;
}

TEST(ConsoleTest, DurationsAndBars) {
  EXPECT_EQ(FormatDuration(7), "0:07");
  EXPECT_EQ(FormatDuration(125), "2:05");
  EXPECT_EQ(FormatDuration(3723), "1:02:03");
  EXPECT_EQ(FormatDuration(-5), "0:00");
  EXPECT_EQ(Bar(0.5, 4), "[##--]");
  EXPECT_EQ(Bar(2.0, 2), "[##]");
}

TEST(ConsoleTest, ProgressShowsPagesRequestsBudgetAndCountdown) {
  auto out = Capture(
      [](ConsoleReporter& r) {
        core::RateBudgetState s;
        s.read_limit_15min = 100;
        s.read_used_15min = 40;
        s.read_limit_daily = 1000;
        s.read_used_daily = 140;
        r.OnBudget(s, 12);
        r.OnPage(2023, 2025, 1.0, 7, 1234);
        r.OnWait("15-minute read limit spent", 462);
      },
      true, false);
  EXPECT_NE(out.find("2023-2025"), std::string::npos);
  EXPECT_NE(out.find("pages 7"), std::string::npos);
  EXPECT_NE(out.find("activities 1234"), std::string::npos);
  EXPECT_NE(out.find("requests 12"), std::string::npos);
  EXPECT_NE(out.find("budget left 60/15min 860/day"), std::string::npos);
  EXPECT_NE(out.find("resuming in 7:42"), std::string::npos);
}

TEST(ConsoleTest, QuietPrintsNothing) {
  auto out = Capture([](ConsoleReporter& r) { r.OnMessage("hello"); r.OnPage(2024, 2024, 0.5, 1, 2); }, true, true);
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace dl::app
