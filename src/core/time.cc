#include "core/time.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace dl::core {
namespace {

bool ParseInt(std::string_view s, int& out) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc{};
}

// The value of the n ASCII digits at t[pos..pos + n), or -1 if one is not a
// digit. The caller checked the length. Hand-rolled (not ParseInt): a
// backfill parses every activity's dates on its busiest thread, and
// from_chars plus substr's checks cost several times this.
int Digits(std::string_view t, size_t pos, size_t n) {
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    const unsigned d = static_cast<unsigned char>(t[i]) - unsigned{'0'};
    if (d > 9) return -1;
    v = v * 10 + static_cast<int>(d);
  }
  return v;
}

// Parses "YYYY-MM-DDTHH:MM:SS" (optionally followed by 'Z' or fractional
// seconds and 'Z'). Returns seconds since the epoch, treating it as UTC.
std::optional<int64_t> ParseDateTime(std::string_view t) {
  if (t.size() < 19 || t[4] != '-' || t[7] != '-' || (t[10] != 'T' && t[10] != ' ') ||
      t[13] != ':' || t[16] != ':') {
    return std::nullopt;
  }
  const int y = Digits(t, 0, 4), mo = Digits(t, 5, 2), d = Digits(t, 8, 2);
  const int h = Digits(t, 11, 2), mi = Digits(t, 14, 2), s = Digits(t, 17, 2);
  if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || s < 0) return std::nullopt;
  std::string_view rest = t.substr(19);
  if (!rest.empty() && rest[0] == '.') {
    size_t i = 1;
    while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') ++i;
    rest = rest.substr(i);
  }
  if (!(rest.empty() || rest == "Z")) return std::nullopt;
  if (h > 23 || mi > 59 || s > 60) return std::nullopt;
  Date date{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(mo)},
            std::chrono::day{static_cast<unsigned>(d)}};
  if (!date.ok()) return std::nullopt;
  auto days = std::chrono::sys_days{date}.time_since_epoch().count();
  return static_cast<int64_t>(days) * 86400 + h * 3600 + mi * 60 + s;
}

}  // namespace

std::optional<TimePoint> ParseIsoUtc(std::string_view text) {
  auto e = ParseDateTime(text);
  if (!e) return std::nullopt;
  return TimePoint{std::chrono::seconds{*e}};
}

std::optional<int64_t> ParseNaiveEpoch(std::string_view text) { return ParseDateTime(text); }

std::optional<Date> LocalDateOf(std::string_view start_date_local) {
  auto e = ParseDateTime(start_date_local);
  if (!e) return std::nullopt;
  int64_t days = *e >= 0 ? *e / 86400 : -((-*e + 86399) / 86400);
  return Date{std::chrono::sys_days{std::chrono::days{days}}};
}

std::string FormatDate(Date d) {
  const int y = static_cast<int>(d.year());
  const unsigned m = static_cast<unsigned>(d.month()), day = static_cast<unsigned>(d.day());
  if (y >= 0 && y <= 9999 && m <= 99 && day <= 99) {
    // What the snprintf below writes for these, without its format parsing:
    // every stored activity's local date is formatted on the fetching thread.
    const char text[10] = {static_cast<char>('0' + y / 1000),     static_cast<char>('0' + y / 100 % 10),
                           static_cast<char>('0' + y / 10 % 10),  static_cast<char>('0' + y % 10),
                           '-',
                           static_cast<char>('0' + m / 10),       static_cast<char>('0' + m % 10),
                           '-',
                           static_cast<char>('0' + day / 10),     static_cast<char>('0' + day % 10)};
    return std::string(text, sizeof text);
  }
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(d.year()),
                static_cast<unsigned>(d.month()), static_cast<unsigned>(d.day()));
  return buf;
}

std::optional<Date> ParseDate(std::string_view t) {
  if (t.size() != 10 || t[4] != '-' || t[7] != '-') return std::nullopt;
  int y, m, d;
  if (!ParseInt(t.substr(0, 4), y) || !ParseInt(t.substr(5, 2), m) || !ParseInt(t.substr(8, 2), d)) {
    return std::nullopt;
  }
  Date date{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(m)},
            std::chrono::day{static_cast<unsigned>(d)}};
  if (!date.ok()) return std::nullopt;
  return date;
}

std::string FormatIsoUtc(TimePoint t) {
  auto days = std::chrono::floor<std::chrono::days>(t);
  Date d{days};
  auto secs = (t - days).count();
  char buf[32];
  std::snprintf(buf, sizeof buf, "%sT%02lld:%02lld:%02lldZ", FormatDate(d).c_str(),
                static_cast<long long>(secs / 3600), static_cast<long long>((secs / 60) % 60),
                static_cast<long long>(secs % 60));
  return buf;
}

int DaysInYear(int year) { return std::chrono::year{year}.is_leap() ? 366 : 365; }

int DayOfYear(Date d) {
  Date jan1{d.year(), std::chrono::January, std::chrono::day{1}};
  return static_cast<int>((std::chrono::sys_days{d} - std::chrono::sys_days{jan1}).count());
}

Date AddDays(Date d, int days) { return Date{std::chrono::sys_days{d} + std::chrono::days{days}}; }

Date LocalDateAt(int64_t utc_epoch_s, double utc_offset_s) {
  double offset = std::isfinite(utc_offset_s) ? std::clamp(utc_offset_s, -12.0 * 3600, 14.0 * 3600) : 0.0;
  const std::chrono::sys_seconds local{std::chrono::seconds{utc_epoch_s + std::llround(offset)}};
  return Date{std::chrono::floor<std::chrono::days>(local)};
}

EpochRange WidenedUtcRangeForLocalYear(int year) {
  Date jan1{std::chrono::year{year}, std::chrono::January, std::chrono::day{1}};
  Date next{std::chrono::year{year + 1}, std::chrono::January, std::chrono::day{1}};
  int64_t start = std::chrono::sys_days{jan1}.time_since_epoch().count() * int64_t{86400};
  int64_t end = std::chrono::sys_days{next}.time_since_epoch().count() * int64_t{86400};
  // Local midnight at UTC+14 is 14 h before UTC midnight; the last local
  // second at UTC-12 is 12 h after. Bounds are exclusive, hence the -1.
  return EpochRange{start - 14 * 3600 - 1, end + 12 * 3600};
}

}  // namespace dl::core
