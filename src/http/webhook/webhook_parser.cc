// simdjson decides (about 20 times faster than a DOM parse with nlohmann-json
// on these small bodies, see ../shared/measured.md): its DOM parser is
// strict (trailing content, invalid UTF-8, unescaped control characters,
// lone surrogates and out-of-range numbers are errors). It does not say
// where a syntax error is, so on that rare path nlohmann-json re-reads the
// body only to describe the error with a line and column.
//
// Duplicate keys are refused at the top level and inside `updates` (the
// objects we read); deeper, unknown values are not inspected. Nesting deeper
// than simdjson's 1024 levels is refused as malformed.
#include "http/webhook/webhook_parser.h"

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <simdjson.h>

namespace dl::http::webhook {
namespace {

namespace dom = simdjson::dom;
using Json = nlohmann::json;

constexpr size_t kMaxEchoChars = 120;

// Text for an error message: printable ASCII only, truncated, so the
// message is safe to log and to put in a JSON answer.
std::string Echo(std::string_view text, size_t max_chars = kMaxEchoChars) {
  std::string out;
  for (char c : text.substr(0, max_chars)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
  }
  if (text.size() > max_chars) out += "...";
  return out;
}

std::unexpected<Error> Invalid(std::string message) {
  return Fail(ErrorCode::kInvalidArgument, std::move(message));
}

// Keeps the first syntax error of a parse; every value callback accepts.
class SyntaxErrorCapture final : public nlohmann::json_sax<Json> {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    message_ = e.what();
    return false;
  }
  const std::string& message() const { return message_; }

 private:
  std::string message_;
};

// nlohmann's "[json.exception.parse_error.101] parse error at line 1, column
// 3: syntax error while parsing value - invalid literal; last read: '<text>';
// expected end of input" becomes "malformed JSON: parse error at line 1,
// column 3: ...; last read: '...<end of text>'; expected end of input": the
// echoed client text is cut to its end, the part next to the error. When
// nlohmann finds nothing wrong (a number or nesting only simdjson refuses),
// simdjson's own description is used.
std::string SyntaxErrorMessage(std::string_view body, simdjson::error_code code) {
  SyntaxErrorCapture capture;
  (void)Json::sax_parse(body, &capture, nlohmann::detail::input_format_t::json, /*strict=*/true);
  std::string_view what = capture.message();
  if (size_t close = what.find("] "); what.starts_with("[json.exception") && close != what.npos) {
    what.remove_prefix(close + 2);
  }
  constexpr size_t kOwnWords = 240;  // the parsers' words are short; only "last read" is the client's
  if (what.empty()) return "malformed JSON: " + Echo(simdjson::error_message(code), kOwnWords);
  constexpr std::string_view kLastRead = "last read: '";
  const size_t open = what.find(kLastRead);
  const size_t close = what.rfind('\'');
  if (open == what.npos || close == what.npos || close < open + kLastRead.size()) {
    return "malformed JSON: " + Echo(what, kOwnWords);
  }
  std::string_view text = what.substr(open + kLastRead.size(), close - open - kLastRead.size());
  constexpr size_t kTail = 32;
  const bool cut = text.size() > kTail;
  if (cut) text.remove_prefix(text.size() - kTail);
  return "malformed JSON: " + Echo(what.substr(0, open + kLastRead.size()), kOwnWords) + (cut ? "..." : "") +
         Echo(text) + Echo(what.substr(close), kOwnWords);
}

std::optional<std::string_view> DuplicateKey(dom::object object) {
  std::vector<std::string_view> keys;
  keys.reserve(object.size());
  for (auto field : object) keys.push_back(field.key);
  std::sort(keys.begin(), keys.end());
  auto it = std::adjacent_find(keys.begin(), keys.end());
  if (it == keys.end()) return std::nullopt;
  return *it;
}

// Top level and `updates`, before any field is read: a syntax matter.
Status CheckDuplicateKeys(dom::object root) {
  auto duplicate = DuplicateKey(root);
  dom::object updates;
  if (!duplicate && root["updates"].get(updates) == simdjson::SUCCESS) duplicate = DuplicateKey(updates);
  if (duplicate) return Invalid("malformed JSON: duplicate key \"" + Echo(*duplicate) + "\"");
  return Ok();
}

// An int64 field; `min` is 1 for ids and 0 for event_time.
Result<int64_t> IntField(dom::object object, const char* name, int64_t min) {
  dom::element value;
  if (object[name].get(value) != simdjson::SUCCESS) return Invalid(std::string("missing field ") + name);
  if (value.type() == dom::element_type::UINT64) return Invalid(std::string(name) + " is out of range");
  int64_t n = 0;
  if (value.type() != dom::element_type::INT64 || value.get_int64().get(n) != simdjson::SUCCESS) {
    return Invalid(std::string(name) + " must be an integer");
  }
  if (n < min) {
    return Invalid(std::string(name) + (min > 0 ? " must be a positive integer" : " must not be negative"));
  }
  return n;
}

// A string field that must be one of `allowed`.
Result<std::string> EnumField(dom::object object, const char* name, std::initializer_list<std::string_view> allowed) {
  dom::element value;
  if (object[name].get(value) != simdjson::SUCCESS) return Invalid(std::string("missing field ") + name);
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS) return Invalid(std::string(name) + " must be a string");
  std::string expected;
  for (std::string_view a : allowed) {
    if (text == a) return std::string(text);
    expected += (expected.empty() ? "" : ", ") + std::string(a);
  }
  return Invalid("unknown " + std::string(name) + " \"" + Echo(text) + "\" (expected one of " + expected + ")");
}

// Every value a string; "private" and "authorized" "true" or "false".
Status CheckUpdateValues(dom::object updates) {
  for (auto field : updates) {
    std::string_view text;
    const bool is_string = field.value.get_string().get(text) == simdjson::SUCCESS;
    if (field.key == "private" || field.key == "authorized") {
      if (!is_string || (text != "true" && text != "false")) {
        return Invalid("updates." + std::string(field.key) + " must be the string \"true\" or \"false\"");
      }
    } else if (!is_string) {
      return Invalid("updates." + Echo(field.key) + " must be a string");
    }
  }
  return Ok();
}

// Fills the fields carried by `updates` (absent: {}).
Status ReadUpdates(dom::object root, core::WebhookEvent& event) {
  dom::element element;
  if (root["updates"].get(element) != simdjson::SUCCESS) {
    event.updates_json = "{}";
    return Ok();
  }
  dom::object updates;
  if (element.get_object().get(updates) != simdjson::SUCCESS) return Invalid("updates must be an object");
  if (auto values = CheckUpdateValues(updates); !values) return values;
  event.updates_json = simdjson::minify(element);  // keys in the order received
  if (event.updates_json.size() > kMaxUpdatesChars) {
    return Invalid("updates must be at most " + std::to_string(kMaxUpdatesChars) + " characters when serialized");
  }
  for (auto field : updates) {
    const std::string_view text = field.value.get_string().value_unsafe();  // checked above
    if (field.key == "title") event.title = std::string(text);
    else if (field.key == "type") event.type = std::string(text);
    else if (field.key == "visibility") event.visibility = std::string(text);
    else if (field.key == "private") event.is_private = text == "true";
    else if (field.key == "authorized") event.authorized = text == "true";
  }
  return Ok();
}

// The fields in the documented order; the first problem is reported.
Status ReadFields(dom::object root, core::WebhookEvent& event) {
  auto object_type = EnumField(root, "object_type", {"activity", "athlete"});
  if (!object_type) return std::unexpected(object_type.error());
  auto object_id = IntField(root, "object_id", 1);
  if (!object_id) return std::unexpected(object_id.error());
  auto aspect_type = EnumField(root, "aspect_type", {"create", "update", "delete"});
  if (!aspect_type) return std::unexpected(aspect_type.error());
  auto owner_id = IntField(root, "owner_id", 1);
  if (!owner_id) return std::unexpected(owner_id.error());
  auto subscription_id = IntField(root, "subscription_id", 1);
  if (!subscription_id) return std::unexpected(subscription_id.error());
  auto event_time = IntField(root, "event_time", 0);
  if (!event_time) return std::unexpected(event_time.error());
  event.object_type = std::move(*object_type);
  event.object_id = *object_id;
  event.aspect_type = std::move(*aspect_type);
  event.owner_id = *owner_id;
  event.subscription_id = *subscription_id;
  event.event_time = *event_time;
  return ReadUpdates(root, event);
}

}  // namespace

Result<core::WebhookEvent> ParseWebhookEvent(std::string_view body) {
  // A parser per call: about half a microsecond to set up for a small body,
  // and no state shared between handler threads.
  dom::parser parser;
  const simdjson::padded_string padded(body);
  dom::element root;
  if (auto code = parser.parse(padded).get(root); code != simdjson::SUCCESS) {
    return Invalid(SyntaxErrorMessage(body, code));
  }
  dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) return Invalid("body must be a JSON object");
  if (auto duplicates = CheckDuplicateKeys(object); !duplicates) return std::unexpected(duplicates.error());
  core::WebhookEvent event;
  if (auto fields = ReadFields(object, event); !fields) return std::unexpected(fields.error());
  return event;
}

}  // namespace dl::http::webhook
