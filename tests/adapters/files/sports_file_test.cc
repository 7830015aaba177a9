#include "adapters/files/sports_file.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "adapters/files/atomic_file.h"
#include "test_dir.h"

namespace dl::adapters::files {
namespace {

// Expects a kInvalidArgument whose message contains every part.
void ExpectInvalid(std::string_view text, std::vector<std::string> parts) {
  auto r = ParseSportCategories(text, "my-sports.json");
  ASSERT_FALSE(r.has_value()) << text;
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().message.rfind("my-sports.json: ", 0), 0u) << r.error().message;
  for (const auto& part : parts) {
    EXPECT_NE(r.error().message.find(part), std::string::npos) << "'" << part << "' not in: " << r.error().message;
  }
}

TEST(SportsFileTest, TheShippedFileLoadsAsTheEmbeddedDefault) {
  auto r = LoadSportCategoriesFile(std::filesystem::path(DL_SOURCE_DIR) / "data" / "sports.json");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->Names(), core::SportCategories::Default().Names());
  ASSERT_EQ(r->rules().size(), core::SportCategories::Default().rules().size());
  for (size_t i = 0; i < r->rules().size(); ++i) {
    EXPECT_EQ(r->rules()[i].legacy_types, core::SportCategories::Default().rules()[i].legacy_types);
    EXPECT_EQ(r->rules()[i].sport_types, core::SportCategories::Default().rules()[i].sport_types);
  }
}

TEST(SportsFileTest, AnOverrideReplacesTheTable) {
  TestDir dir;
  auto path = dir.path() / "sports.json";
  ASSERT_TRUE(AtomicWriteFile(path, R"({
    "comment": "mine",
    "categories": [
      {"name": "gravel", "sport_types": ["GravelRide"], "comment": "first, so it wins"},
      {"name": "cycling", "legacy_types": ["Ride", "VirtualRide", "EBikeRide"]},
      {"name": "foot", "sport_types": ["Run", "Walk", "Hike"]}
    ]
  })")
                  .has_value());
  auto r = LoadSportCategoriesFile(path);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->Names(), (std::vector<std::string>{"gravel", "cycling", "foot", "other"}));
  EXPECT_EQ(r->Categorize("Ride", "GravelRide"), "gravel");
  EXPECT_EQ(r->Categorize("EBikeRide", "EBikeRide"), "cycling");
  EXPECT_EQ(r->Categorize("Hike", ""), "foot");
  EXPECT_EQ(r->Categorize("Swim", "Swim"), "other");
}

TEST(SportsFileTest, MalformedJsonNamesLineAndColumn) {
  // The stray comma before '}' is on line 3; nlohmann stops at the '}'.
  ExpectInvalid("{\n  \"categories\": [\n    {\"name\": \"cycling\",}\n  ]\n}\n",
                {"invalid JSON at line 3, column 24: ", "syntax error"});
  ExpectInvalid("", {"invalid JSON at line 1, column 0: "});
  ExpectInvalid("{\"categories\": [", {"invalid JSON at line 1, column 16: "});
}

TEST(SportsFileTest, WrongTypesNameThePath) {
  ExpectInvalid(R"([1, 2])", {"the top level must be an object, got array"});
  ExpectInvalid(R"({"categories": {"name": "cycling"}})", {"categories must be a list, got object"});
  ExpectInvalid(R"({"categories": ["cycling"]})", {"categories[0] must be an object, got string"});
  ExpectInvalid(R"({"categories": [{"name": 7, "legacy_types": ["Ride"]}]})",
                {"categories[0].name must be a string, got number"});
  ExpectInvalid(R"({"categories": [{"name": "cycling", "legacy_types": "Ride"}]})",
                {"categories[0].legacy_types must be a list of strings, got string"});
  ExpectInvalid(R"({"categories": [{"name": "cycling", "legacy_types": ["Ride"]},
                                   {"name": "running", "sport_types": ["Run", null]}]})",
                {"categories[1].sport_types[1] must be a string, got null"});
  ExpectInvalid(R"({"categories": [{"name": "cycling", "legacy_types": [""]}]})",
                {"categories[0].legacy_types[0] must not be empty"});
}

TEST(SportsFileTest, UnknownAndMissingKeysAreErrors) {
  ExpectInvalid(R"({"categorys": []})", {"unknown top-level key 'categorys'"});
  ExpectInvalid(R"({"comment": "x"})", {"missing \"categories\""});
  ExpectInvalid(R"({"categories": [{"name": "cycling", "sport_type": ["Ride"]}]})",
                {"categories[0]: unknown key 'sport_type'"});
  ExpectInvalid(R"({"categories": [{"legacy_types": ["Ride"]}]})", {"categories[0] has no \"name\""});
}

TEST(SportsFileTest, CategoryRulesAreChecked) {
  ExpectInvalid(R"({"categories": [{"name": "Cycling", "legacy_types": ["Ride"]}]})",
                {"'Cycling' must be 1-32 characters"});
  ExpectInvalid(R"({"categories": [{"name": "running", "sport_types": ["Run"]}]})", {"must define 'cycling'"});
  ExpectInvalid(R"({"categories": [{"name": "cycling", "legacy_types": ["Ride"]},
                                   {"name": "other", "sport_types": ["X"]}]})",
                {"'other' is implicit"});
  ExpectInvalid(R"({"categories": [{"name": "cycling"}]})", {"'cycling' matches nothing"});
  ExpectInvalid(R"({"categories": []})", {"must define 'cycling'"});
}

TEST(SportsFileTest, MissingFileIsNotFound) {
  TestDir dir;
  auto r = LoadSportCategoriesFile(dir.path() / "absent.json");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_NE(r.error().message.find("absent.json does not exist"), std::string::npos) << r.error().message;
}

TEST(SportsFileTest, FileErrorsNameTheFile) {
  TestDir dir;
  auto path = dir.path() / "broken.json";
  ASSERT_TRUE(AtomicWriteFile(path, "{\"categories\": [}").has_value());
  auto r = LoadSportCategoriesFile(path);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message.rfind(path.string() + ": invalid JSON at line 1, column 17: ", 0), 0u)
      << r.error().message;
}

}  // namespace
}  // namespace dl::adapters::files
