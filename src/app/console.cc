#include "app/console.h"

#include <algorithm>
#include <cmath>

namespace dl::app {

std::string FormatDuration(int64_t s) {
  if (s < 0) s = 0;
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>((s / 60) % 60), static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  }
  return buf;
}

std::string Bar(double fraction, int width) {
  fraction = std::clamp(fraction, 0.0, 1.0);
  int filled = static_cast<int>(std::lround(fraction * width));
  std::string bar;  // appended piecewise: gcc 12 -O2 warns (-Wrestrict, a false positive) on operator+ chains here
  bar.reserve(static_cast<size_t>(width) + 2);
  bar += '[';
  bar.append(static_cast<size_t>(filled), '#');
  bar.append(static_cast<size_t>(width - filled), '-');
  bar += ']';
  return bar;
}

ConsoleReporter::ConsoleReporter(std::FILE* out, bool is_tty, bool quiet) : out_(out), tty_(is_tty), quiet_(quiet) {}

void ConsoleReporter::Draw(const std::string& line, bool final_line) {
  if (quiet_) return;
  if (tty_) {
    std::fprintf(out_, "\r\033[2K%s", line.c_str());
    line_open_ = !final_line;
    if (final_line) std::fputc('\n', out_);
  } else {
    auto now = std::chrono::steady_clock::now();
    if (!final_line && now - last_plain_ < std::chrono::seconds(2)) return;
    last_plain_ = now;
    std::fprintf(out_, "%s\n", line.c_str());
  }
  std::fflush(out_);
}

void ConsoleReporter::OnPage(int first_year, int last_year, double fraction, int64_t pages, int64_t activities) {
  if (!have_range_ || first_year != first_year_ || last_year != last_year_) {
    range_start_ = std::chrono::steady_clock::now();
    first_year_ = first_year;
    last_year_ = last_year;
    have_range_ = true;
  }
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - range_start_).count();
  std::string eta = "--:--";
  if (fraction > 0.01 && fraction < 1.0) eta = FormatDuration(std::llround(elapsed * (1 - fraction) / fraction));
  if (fraction >= 1.0) eta = "0:00";
  std::string years = first_year == last_year ? std::to_string(first_year)
                                              : std::to_string(first_year) + "-" + std::to_string(last_year);
  char buf[320];
  std::snprintf(buf, sizeof buf, "%s %s %3d%%  pages %lld  activities %lld  requests %lld  budget left %lld/15min %lld/day  ETA %s",
                years.c_str(), Bar(fraction, 24).c_str(), static_cast<int>(std::lround(fraction * 100)),
                static_cast<long long>(pages), static_cast<long long>(activities), static_cast<long long>(requests_),
                static_cast<long long>(std::max<int64_t>(0, budget_.read_limit_15min - budget_.read_used_15min)),
                static_cast<long long>(std::max<int64_t>(0, budget_.read_limit_daily - budget_.read_used_daily)),
                eta.c_str());
  // Off a terminal, the finished range's line is always printed.
  Draw(buf, !tty_ && fraction >= 1.0);
}

void ConsoleReporter::OnRangeDone(int, int) {
  if (line_open_) Finish();
}

void ConsoleReporter::OnMessage(const std::string& line) {
  if (quiet_) return;
  if (line_open_) Finish();
  std::fprintf(out_, "%s\n", line.c_str());
  std::fflush(out_);
}

void ConsoleReporter::OnBudget(const core::RateBudgetState& state, int64_t requests_sent) {
  budget_ = state;
  requests_ = requests_sent;
}

void ConsoleReporter::OnWait(const std::string& reason, int64_t seconds_left) {
  Draw("waiting: " + reason + " - resuming in " + FormatDuration(seconds_left) + " (Ctrl-C stops; a re-run resumes)",
       false);
}

void ConsoleReporter::OnRetry(const std::string& what, int attempt, int64_t delay_ms) {
  OnMessage("retry " + std::to_string(attempt) + " in " + std::to_string(delay_ms) + " ms: " + what);
}

void ConsoleReporter::Finish() {
  if (quiet_ || !line_open_) return;
  std::fputc('\n', out_);
  std::fflush(out_);
  line_open_ = false;
}

}  // namespace dl::app
