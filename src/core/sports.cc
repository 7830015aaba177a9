#include "core/sports.h"

#include <algorithm>
#include <set>

namespace dl::core {

std::vector<SportRule> ShippedSportRules();  // sports_data.cc, generated

namespace {

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 32) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

Result<SportCategories> SportCategories::FromRules(std::vector<SportRule> rules) {
  std::set<std::string> seen;
  for (const auto& r : rules) {
    if (!ValidName(r.category)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "sport category name '" + r.category + "' must be 1-32 characters of a-z, 0-9 and '-'");
    }
    if (r.category == kOtherCategory) {
      return Fail(ErrorCode::kInvalidArgument, "sport category 'other' is implicit and cannot be defined");
    }
    if (!seen.insert(r.category).second) {
      return Fail(ErrorCode::kInvalidArgument, "sport category '" + r.category + "' is defined twice");
    }
    if (r.legacy_types.empty() && r.sport_types.empty()) {
      return Fail(ErrorCode::kInvalidArgument, "sport category '" + r.category + "' matches nothing");
    }
  }
  if (!seen.contains(kDefaultCategory)) {
    return Fail(ErrorCode::kInvalidArgument, "the sport categories must define 'cycling' (the default category)");
  }
  SportCategories c;
  c.rules_ = std::move(rules);
  return c;
}

const SportCategories& SportCategories::Default() {
  // Built once from the shipped table; its validity is checked by a test.
  static const SportCategories kDefault = [] {
    auto c = FromRules(ShippedSportRules());
    return c.has_value() ? *c : SportCategories{};
  }();
  return kDefault;
}

std::string SportCategories::Categorize(const Activity& a) const { return Categorize(a.type, a.sport_type); }

std::string SportCategories::Categorize(const std::string& type, const std::string& sport_type) const {
  // Each field falls back to the other when Strava leaves it out.
  const std::string& sport = sport_type.empty() ? type : sport_type;
  const std::string& legacy = type.empty() ? sport_type : type;
  for (const auto& r : rules_) {
    if ((!legacy.empty() && Contains(r.legacy_types, legacy)) || (!sport.empty() && Contains(r.sport_types, sport))) {
      return r.category;
    }
  }
  return kOtherCategory;
}

std::vector<std::string> SportCategories::Names() const {
  std::vector<std::string> names;
  for (const auto& r : rules_) names.push_back(r.category);
  names.emplace_back(kOtherCategory);
  return names;
}

bool SportCategories::Has(const std::string& category) const {
  if (category == kOtherCategory) return true;
  return std::any_of(rules_.begin(), rules_.end(), [&](const SportRule& r) { return r.category == category; });
}

}  // namespace dl::core
