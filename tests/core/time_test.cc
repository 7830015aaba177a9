#include "core/time.h"

#include <gtest/gtest.h>

#include <charconv>
#include <cstdio>
#include <random>
#include <string>

namespace dl::core {
namespace {

// The parser and formatter as they were before their hand-rolled fast paths
// (from_chars, snprintf): the new ones must answer the same for every input.
bool RefInt(std::string_view s, int& out) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return std::from_chars(s.data(), s.data() + s.size(), out).ec == std::errc{};
}
std::optional<int64_t> RefParse(std::string_view t) {
  if (t.size() < 19 || t[4] != '-' || t[7] != '-' || (t[10] != 'T' && t[10] != ' ') || t[13] != ':' || t[16] != ':')
    return std::nullopt;
  int y, mo, d, h, mi, s;
  if (!RefInt(t.substr(0, 4), y) || !RefInt(t.substr(5, 2), mo) || !RefInt(t.substr(8, 2), d) ||
      !RefInt(t.substr(11, 2), h) || !RefInt(t.substr(14, 2), mi) || !RefInt(t.substr(17, 2), s))
    return std::nullopt;
  std::string_view rest = t.substr(19);
  if (!rest.empty() && rest[0] == '.') {
    size_t i = 1;
    while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') ++i;
    rest = rest.substr(i);
  }
  if (!(rest.empty() || rest == "Z")) return std::nullopt;
  if (h > 23 || mi > 59 || s > 60) return std::nullopt;
  Date date{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(mo)}, std::chrono::day{static_cast<unsigned>(d)}};
  if (!date.ok()) return std::nullopt;
  return static_cast<int64_t>(std::chrono::sys_days{date}.time_since_epoch().count()) * 86400 + h * 3600 + mi * 60 + s;
}
std::string RefFormat(Date d) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(d.year()), static_cast<unsigned>(d.month()),
                static_cast<unsigned>(d.day()));
  return buf;
}

TEST(TimeTest, ParsesAndFormatsAsBefore) {
  std::mt19937_64 rng(3);
  const std::string seeds[] = {"2025-10-18T12:49:52Z", "2024-02-29T23:59:60Z", "9999-12-31T23:59:60Z",
                               "0000-01-01T00:00:00Z", "2023-02-29 10:00:00",  "2025-10-18T12:49:52.123Z",
                               "2025-10-18T12:49:52.Z", "1969-12-31T23:59:59"};
  const std::string alphabet = "0123456789-T :.Z/a\x80";
  for (int i = 0; i < 300000; ++i) {
    std::string t = seeds[rng() % std::size(seeds)];
    for (int k = static_cast<int>(rng() % 3); k > 0; --k) {  // mutate a character, or the length
      switch (rng() % 4) {
        case 0: t.resize(rng() % (t.size() + 1)); break;
        case 1: t.push_back(alphabet[rng() % alphabet.size()]); break;
        default: t[rng() % t.size()] = alphabet[rng() % alphabet.size()]; break;
      }
      if (t.empty()) break;
    }
    const auto want = RefParse(t);
    const auto utc = ParseIsoUtc(t);
    ASSERT_EQ(utc.has_value(), want.has_value()) << t;
    if (want) {
      ASSERT_EQ(utc->time_since_epoch().count(), *want) << t;
    }
    ASSERT_EQ(ParseNaiveEpoch(t), want) << t;
    const auto date = LocalDateOf(t);
    ASSERT_EQ(date.has_value(), want.has_value()) << t;
    if (date) {
      ASSERT_EQ(FormatDate(*date), RefFormat(*date)) << t;
    }
  }
  for (int y : {-1, 0, 1, 999, 1970, 9999, 10000, 32767})
    for (unsigned m : {0u, 1u, 12u, 13u, 99u, 100u, 255u})
      for (unsigned d : {0u, 1u, 31u, 99u, 100u, 255u}) {
        const Date date{std::chrono::year{y}, std::chrono::month{m}, std::chrono::day{d}};
        ASSERT_EQ(FormatDate(date), RefFormat(date)) << y << " " << m << " " << d;
      }
}

TEST(TimeTest, ParsesUtcTimestamps) {
  auto t = ParseIsoUtc("2025-10-18T12:49:52Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->time_since_epoch().count(), 1760791792);
  EXPECT_EQ(FormatIsoUtc(*t), "2025-10-18T12:49:52Z");
}

TEST(TimeTest, RejectsMalformedTimestamps) {
  EXPECT_FALSE(ParseIsoUtc("2025-10-18 12:49").has_value());
  EXPECT_FALSE(ParseIsoUtc("2025-13-18T12:49:52Z").has_value());
  EXPECT_FALSE(ParseIsoUtc("2025-02-30T12:49:52Z").has_value());
  EXPECT_FALSE(ParseIsoUtc("2025-10-18T12:49:52+02:00").has_value());
  EXPECT_FALSE(ParseIsoUtc("").has_value());
}

TEST(TimeTest, LocalDateIgnoresTheMisleadingZ) {
  // 20:00 on 31 December in New York is 01:00 UTC on 1 January; its local
  // date is still the old year.
  auto d = LocalDateOf("2024-12-31T20:00:00Z");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(FormatDate(*d), "2024-12-31");
  EXPECT_EQ(FormatDate(*LocalDateOf("2024-12-31T23:59:59Z")), "2024-12-31");
  EXPECT_EQ(FormatDate(*LocalDateOf("2025-01-01T00:00:00Z")), "2025-01-01");
}

TEST(TimeTest, FormatDatePadsEveryField) {
  using std::chrono::year, std::chrono::month, std::chrono::day;
  EXPECT_EQ(FormatDate(Date{year{2024}, month{2}, day{29}}), "2024-02-29");
  EXPECT_EQ(FormatDate(Date{year{987}, month{1}, day{5}}), "0987-01-05");
  EXPECT_EQ(FormatDate(Date{year{9999}, month{12}, day{31}}), "9999-12-31");
  EXPECT_EQ(FormatDate(Date{year{10000}, month{1}, day{1}}), "10000-01-01");  // past the fast path
}

TEST(TimeTest, DaysInLeapAndCommonYears) {
  EXPECT_EQ(DaysInYear(2024), 366);
  EXPECT_EQ(DaysInYear(2023), 365);
  EXPECT_EQ(DaysInYear(2000), 366);
  EXPECT_EQ(DaysInYear(1900), 365);
  EXPECT_EQ(DayOfYear(*ParseDate("2024-12-31")), 365);
  EXPECT_EQ(DayOfYear(*ParseDate("2023-12-31")), 364);
  EXPECT_EQ(FormatDate(AddDays(*ParseDate("2024-02-28"), 1)), "2024-02-29");
}

TEST(TimeTest, WidenedRangeCoversEveryLocalOffset) {
  auto r = WidenedUtcRangeForLocalYear(2025);
  // 2025-01-01T00:00:00Z = 1735689600; at UTC+14 local midnight is 14 h earlier.
  EXPECT_EQ(r.after_epoch_s, 1735689600 - 14 * 3600 - 1);
  // 2026-01-01T00:00:00Z = 1767225600; at UTC-12 the year ends 12 h later.
  EXPECT_EQ(r.before_epoch_s, 1767225600 + 12 * 3600);
}

}  // namespace
}  // namespace dl::core
