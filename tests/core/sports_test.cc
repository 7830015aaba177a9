#include "core/sports.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace dl::core {
namespace {

struct CategorizeRow {
  const char* type;
  const char* sport_type;
  const char* expected;
};

// The default category must match the original system exactly: legacy type
// Ride or VirtualRide. So mountain-bike and gravel rides (type Ride) count,
// e-bike rides (type EBikeRide) do not.
const CategorizeRow kShippedTable[] = {
    {"Ride", "Ride", "cycling"},
    {"VirtualRide", "VirtualRide", "cycling"},
    {"Ride", "MountainBikeRide", "cycling"},
    {"Ride", "GravelRide", "cycling"},
    {"EBikeRide", "EBikeRide", "e-bike"},
    {"EBikeRide", "EMountainBikeRide", "e-bike"},
    {"Run", "Run", "running"},
    {"Run", "TrailRun", "running"},
    {"VirtualRun", "VirtualRun", "running"},
    {"Walk", "Walk", "walking"},
    {"Hike", "Hike", "hiking"},
    {"Swim", "Swim", "swimming"},
    {"AlpineSki", "AlpineSki", "winter"},
    {"Workout", "Snowboard", "winter"},
    {"Rowing", "Rowing", "water"},
    {"Handcycle", "Handcycle", "other"},    // not legacy Ride: not cycling, as the original
    {"Velomobile", "Velomobile", "other"},
    {"Workout", "Pickleball", "other"},     // unknown sport_type: kept, categorised as other
    {"Workout", "SomethingNew2030", "other"},
    {"Run", "", "running"},                 // no sport_type: type looked up instead
    {"Hike", "", "hiking"},
    {"EBikeRide", "", "e-bike"},
    {"Ride", "", "cycling"},
    {"", "", "other"},
};

TEST(SportsTest, ShippedTableCategorisesLikeTheOriginal) {
  const auto& c = SportCategories::Default();
  for (const auto& row : kShippedTable) {
    EXPECT_EQ(c.Categorize(row.type, row.sport_type), row.expected)
        << "type=" << row.type << " sport_type=" << row.sport_type;
  }
}

TEST(SportsTest, CategorizeActivityUsesItsTypeAndSportType) {
  Activity a;
  a.type = "Ride";
  a.sport_type = "GravelRide";
  EXPECT_EQ(SportCategories::Default().Categorize(a), "cycling");
  a.type = "EBikeRide";
  a.sport_type = "EMountainBikeRide";
  EXPECT_EQ(SportCategories::Default().Categorize(a), "e-bike");
}

TEST(SportsTest, ShippedTableValidates) {
  const auto& c = SportCategories::Default();
  // Default() falls back to an empty table when data/sports.json does not
  // validate; then Names() would be just {"other"}.
  const std::vector<std::string> expected = {"cycling", "e-bike",   "running", "walking", "hiking",
                                             "swimming", "winter", "water",   "other"};
  EXPECT_EQ(c.Names(), expected);
  EXPECT_TRUE(SportCategories::FromRules(c.rules()).has_value());
  EXPECT_TRUE(c.Has("cycling"));
  EXPECT_TRUE(c.Has("other"));
  EXPECT_FALSE(c.Has("golf"));
}

TEST(SportsTest, FirstMatchingRuleWins) {
  auto cycling_first = SportCategories::FromRules(
      {{"cycling", {"Ride"}, {}}, {"gravel", {}, {"GravelRide"}}});
  ASSERT_TRUE(cycling_first.has_value());
  EXPECT_EQ(cycling_first->Categorize("Ride", "GravelRide"), "cycling");

  auto gravel_first = SportCategories::FromRules(
      {{"gravel", {}, {"GravelRide"}}, {"cycling", {"Ride"}, {}}});
  ASSERT_TRUE(gravel_first.has_value());
  EXPECT_EQ(gravel_first->Categorize("Ride", "GravelRide"), "gravel");
  EXPECT_EQ(gravel_first->Categorize("Ride", "Ride"), "cycling");
  EXPECT_EQ(gravel_first->Names(), (std::vector<std::string>{"gravel", "cycling", "other"}));
}

struct BadRulesRow {
  const char* what;
  std::vector<SportRule> rules;
  const char* message_part;
};

TEST(SportsTest, FromRulesRejectsInvalidTables) {
  const std::vector<BadRulesRow> rows = {
      {"upper case", {{"Cycling", {"Ride"}, {}}}, "'Cycling' must be"},
      {"empty name", {{"cycling", {"Ride"}, {}}, {"", {"Run"}, {}}}, "'' must be"},
      {"space", {{"cycling", {"Ride"}, {}}, {"trail run", {"Run"}, {}}}, "'trail run' must be"},
      {"33 chars", {{"cycling", {"Ride"}, {}}, {std::string(33, 'a'), {"Run"}, {}}}, "must be 1-32"},
      {"slash", {{"cycling", {"Ride"}, {}}, {"../x", {"Run"}, {}}}, "'../x' must be"},
      {"other", {{"cycling", {"Ride"}, {}}, {"other", {"Run"}, {}}}, "'other' is implicit"},
      {"duplicate", {{"cycling", {"Ride"}, {}}, {"cycling", {"Run"}, {}}}, "defined twice"},
      {"no cycling", {{"running", {}, {"Run"}}}, "must define 'cycling'"},
      {"matches nothing", {{"cycling", {"Ride"}, {}}, {"empty", {}, {}}}, "'empty' matches nothing"},
  };
  for (const auto& row : rows) {
    auto r = SportCategories::FromRules(row.rules);
    ASSERT_FALSE(r.has_value()) << row.what;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << row.what;
    EXPECT_NE(r.error().message.find(row.message_part), std::string::npos)
        << row.what << ": " << r.error().message;
  }
}

}  // namespace
}  // namespace dl::core
