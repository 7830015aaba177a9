// The user's override of the sport categories: a JSON file in the same
// format as the shipped data/sports.json:
//   {"comment": "...",                          optional, ignored
//    "categories": [{"name": "cycling",         required, [a-z0-9-]{1,32}
//                    "legacy_types": ["Ride"],   optional list of strings
//                    "sport_types": ["Run"],     optional list of strings
//                    "comment": "..."}]}         optional, ignored
// Unknown keys are errors (a misspelt "sport_type" must not silently match
// nothing). Category rules (unique names, 'cycling' present, 'other'
// implicit) are core::SportCategories::FromRules's.
#pragma once

#include <filesystem>
#include <string_view>

#include "core/result.h"
#include "core/sports.h"

namespace dl::adapters::files {

// Errors: kNotFound (no such file), kIo, kInvalidArgument with the file name
// and, for malformed JSON, "line L, column C"; for a wrong type or unknown
// key, the JSON path ("categories[2].sport_types[1]").
Result<core::SportCategories> LoadSportCategoriesFile(const std::filesystem::path& path);

// The same from text; `source` names it in error messages.
Result<core::SportCategories> ParseSportCategories(std::string_view text, std::string_view source);

}  // namespace dl::adapters::files
