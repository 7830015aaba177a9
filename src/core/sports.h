// Sport categories. An activity belongs to exactly one category: the first
// rule (in file order) that matches it, else "other". A rule matches on the
// legacy `type` (legacy_types) or on `sport_type` (sport_types; when an
// activity has no sport_type its `type` is looked up there instead).
// The default `cycling` rule is legacy type Ride or VirtualRide, exactly as
// the original system: gravel and mountain-bike rides count, e-bikes do not.
#pragma once

#include <string>
#include <vector>

#include "core/activity.h"
#include "core/result.h"

namespace dl::core {

inline constexpr const char* kDefaultCategory = "cycling";
inline constexpr const char* kOtherCategory = "other";

struct SportRule {
  std::string category;                  // [a-z0-9-]+, unique
  std::vector<std::string> legacy_types;
  std::vector<std::string> sport_types;
};

class SportCategories {
 public:
  // Validates names (non-empty, [a-z0-9-], unique) and that "cycling" exists.
  static Result<SportCategories> FromRules(std::vector<SportRule> rules);
  // The rules shipped with the project (data/sports.json, embedded).
  static const SportCategories& Default();

  std::string Categorize(const Activity& a) const;
  std::string Categorize(const std::string& type, const std::string& sport_type) const;
  // Every category name, in rule order, "other" last.
  std::vector<std::string> Names() const;
  bool Has(const std::string& category) const;
  const std::vector<SportRule>& rules() const { return rules_; }

 private:
  std::vector<SportRule> rules_;
};

}  // namespace dl::core
