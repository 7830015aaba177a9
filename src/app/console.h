// Human progress output: a progress bar with pages, activities, requests used,
// budget left and ETA, and a visible countdown while waiting on a rate limit.
// On a terminal it redraws one line; otherwise it prints a line now and then.
// Quiet (for --json) prints nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include "app/backfill.h"
#include "core/rate_budget.h"

namespace dl::app {

// "1:02:03", "4:05", "0:07"; negative as 0.
std::string FormatDuration(int64_t seconds);
// "[#######-----------]" of `width` cells.
std::string Bar(double fraction, int width);

class ConsoleReporter : public BackfillObserver {
 public:
  ConsoleReporter(std::FILE* out, bool is_tty, bool quiet);

  void OnPage(int first_year, int last_year, double fraction, int64_t pages, int64_t activities) override;
  void OnRangeDone(int first_year, int last_year) override;
  void OnMessage(const std::string& line) override;

  // From the Strava session.
  void OnBudget(const core::RateBudgetState& state, int64_t requests_sent);
  void OnWait(const std::string& reason, int64_t seconds_left);
  void OnRetry(const std::string& what, int attempt, int64_t delay_ms);

  void Finish();  // ends a redrawn line

 private:
  void Draw(const std::string& line, bool final_line);

  std::FILE* out_;
  bool tty_;
  bool quiet_;
  bool line_open_ = false;
  std::chrono::steady_clock::time_point range_start_;
  std::chrono::steady_clock::time_point last_plain_;
  core::RateBudgetState budget_;
  int64_t requests_ = 0;
  int first_year_ = 0, last_year_ = 0;
  bool have_range_ = false;
};

}  // namespace dl::app
