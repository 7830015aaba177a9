#include "core/time.h"

#include <gtest/gtest.h>

namespace dl::core {
namespace {

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
