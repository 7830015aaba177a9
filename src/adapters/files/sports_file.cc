#include "adapters/files/sports_file.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "adapters/files/atomic_file.h"

namespace dl::adapters::files {
namespace {

using nlohmann::json;

std::unexpected<Error> Invalid(std::string_view source, const std::string& message) {
  return Fail(ErrorCode::kInvalidArgument, std::string(source) + ": " + message);
}

// "line L, column C" of nlohmann's byte index (1-based, the last character
// read; past the end at end of input), counted as nlohmann counts them.
std::string Position(std::string_view text, size_t byte) {
  std::string_view prefix = text.substr(0, std::min(byte, text.size()));
  size_t line = 1 + static_cast<size_t>(std::count(prefix.begin(), prefix.end(), '\n'));
  size_t last_newline = prefix.rfind('\n');
  size_t column = last_newline == std::string_view::npos ? prefix.size() : prefix.size() - last_newline - 1;
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

// nlohmann's message without its "[json.exception...] parse error at ...: " prefix.
std::string ParseErrorReason(const json::parse_error& e) {
  std::string what = e.what();
  size_t at = what.find("parse error");
  size_t colon = at == std::string::npos ? std::string::npos : what.find(": ", at);
  return colon == std::string::npos ? what : what.substr(colon + 2);
}

Result<std::vector<std::string>> StringList(std::string_view source, const json& value, const std::string& where) {
  if (!value.is_array()) return Invalid(source, where + " must be a list of strings, got " + value.type_name());
  std::vector<std::string> out;
  for (size_t i = 0; i < value.size(); ++i) {
    const json& item = value[i];
    std::string item_where = where + "[" + std::to_string(i) + "]";
    if (!item.is_string()) return Invalid(source, item_where + " must be a string, got " + item.type_name());
    if (item.get_ref<const std::string&>().empty()) return Invalid(source, item_where + " must not be empty");
    out.push_back(item.get<std::string>());
  }
  return out;
}

Result<core::SportRule> ParseRule(std::string_view source, const json& value, const std::string& where) {
  if (!value.is_object()) return Invalid(source, where + " must be an object, got " + value.type_name());
  core::SportRule rule;
  bool has_name = false;
  for (const auto& [key, item] : value.items()) {
    std::string item_where = where + "." + key;
    if (key == "name") {
      if (!item.is_string()) return Invalid(source, item_where + " must be a string, got " + item.type_name());
      rule.category = item.get<std::string>();
      has_name = true;
    } else if (key == "legacy_types" || key == "sport_types") {
      auto list = StringList(source, item, item_where);
      if (!list) return std::unexpected(list.error());
      (key == "legacy_types" ? rule.legacy_types : rule.sport_types) = std::move(*list);
    } else if (key != "comment") {
      return Invalid(source, where + ": unknown key '" + key + "' (expected name, legacy_types, sport_types, comment)");
    }
  }
  if (!has_name) return Invalid(source, where + " has no \"name\"");
  return rule;
}

Result<std::vector<core::SportRule>> ParseRoot(std::string_view source, const json& root) {
  if (!root.is_object()) {
    return Invalid(source, std::string("the top level must be an object, got ") + root.type_name());
  }
  const json* categories = nullptr;
  for (const auto& [key, item] : root.items()) {
    if (key == "categories") {
      categories = &item;
    } else if (key != "comment") {
      return Invalid(source, "unknown top-level key '" + key + "' (expected categories, comment)");
    }
  }
  if (categories == nullptr) return Invalid(source, "missing \"categories\"");
  if (!categories->is_array()) {
    return Invalid(source, std::string("categories must be a list, got ") + categories->type_name());
  }
  std::vector<core::SportRule> rules;
  for (size_t i = 0; i < categories->size(); ++i) {
    auto rule = ParseRule(source, (*categories)[i], "categories[" + std::to_string(i) + "]");
    if (!rule) return std::unexpected(rule.error());
    rules.push_back(std::move(*rule));
  }
  return rules;
}

}  // namespace

Result<core::SportCategories> ParseSportCategories(std::string_view text, std::string_view source) {
  json root;
  try {
    root = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    return Invalid(source, "invalid JSON at " + Position(text, e.byte) + ": " + ParseErrorReason(e));
  }
  auto rules = ParseRoot(source, root);
  if (!rules) return std::unexpected(rules.error());
  auto categories = core::SportCategories::FromRules(std::move(*rules));
  if (!categories) return Invalid(source, categories.error().message);
  return categories;
}

Result<core::SportCategories> LoadSportCategoriesFile(const std::filesystem::path& path) {
  auto text = ReadFile(path);
  if (!text) {
    auto e = text.error();
    e.message = "sport categories file: " + e.message;
    return std::unexpected(std::move(e));
  }
  return ParseSportCategories(*text, path.string());
}

}  // namespace dl::adapters::files
