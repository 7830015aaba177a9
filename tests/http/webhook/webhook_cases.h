// Webhook bodies shared by the parser tests and the endpoint tests: each
// invalid body with the exact 400 message it must get (or, for malformed
// JSON, a prefix and a fragment of the parser's description).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dl::http::webhook::testing {

using Json = nlohmann::json;

inline constexpr int64_t kSubscriptionId = 120475;
inline constexpr int64_t kOwnerId = 134815;

// Strava's documented example.
inline Json BaseEvent() {
  return Json::parse(R"({"aspect_type":"update","event_time":1516126040,"object_id":1360128428,
    "object_type":"activity","owner_id":134815,"subscription_id":120475,"updates":{"title":"Messy"}})");
}

inline std::string With(const std::string& key, const Json& value) {
  Json j = BaseEvent();
  j[key] = value;
  return j.dump();
}
inline std::string Without(const std::string& key) {
  Json j = BaseEvent();
  j.erase(key);
  return j.dump();
}
// `body` with the first `from` replaced by `to`.
inline std::string Patched(std::string body, const std::string& from, const std::string& to) {
  return body.replace(body.find(from), from.size(), to);
}
// An event whose serialized `updates` is exactly `chars` long.
inline std::string WithUpdatesOfSize(size_t chars) {
  const size_t overhead = std::string(R"({"title":""})").size();
  return With("updates", Json{{"title", std::string(chars - overhead, 'a')}});
}

struct InvalidCase {
  std::string name;
  std::string body;
  std::string message;  // exact, unless `prefix_only`
  bool prefix_only = false;
  std::string fragment = "";  // must also appear (prefix_only cases)
};

inline std::vector<InvalidCase> InvalidCases() {
  const std::string base = BaseEvent().dump();
  std::string dup_key = base;
  dup_key.insert(1, R"("object_id":7,)");
  const std::string any_object = R"(body must be a JSON object)";
  return {
      {"empty", "", "malformed JSON: ", true, "line 1, column 1"},
      {"unclosed", "{", "malformed JSON: ", true, "line 1, column 2"},
      {"trailing_garbage", base + " x", "malformed JSON: ", true, "expected end of input"},
      {"second_document", base + "{}", "malformed JSON: ", true, "expected end of input"},
      {"invalid_utf8", Patched(base, "Messy", "Me\xffssy"),
       "malformed JSON: ", true, "line 1"},
      {"single_quotes", "{'object_id': 1}", "malformed JSON: ", true, "line 1, column 2"},
      {"comment", "/* c */" + base, "malformed JSON: ", true, "line 1, column 1"},
      {"duplicate_key", dup_key, R"(malformed JSON: duplicate key "object_id")"},
      {"array", "[1,2]", any_object},
      {"string", R"("event")", any_object},
      {"null", "null", any_object},
      {"number", "42", any_object},
      {"missing_object_type", Without("object_type"), "missing field object_type"},
      {"missing_object_id", Without("object_id"), "missing field object_id"},
      {"missing_aspect_type", Without("aspect_type"), "missing field aspect_type"},
      {"missing_owner_id", Without("owner_id"), "missing field owner_id"},
      {"missing_subscription_id", Without("subscription_id"), "missing field subscription_id"},
      {"missing_event_time", Without("event_time"), "missing field event_time"},
      {"object_type_number", With("object_type", 5), "object_type must be a string"},
      {"object_type_unknown", With("object_type", "gear"),
       R"(unknown object_type "gear" (expected one of activity, athlete))"},
      {"object_type_case", With("object_type", "Activity"),
       R"(unknown object_type "Activity" (expected one of activity, athlete))"},
      {"aspect_type_unknown", With("aspect_type", "rename"),
       R"(unknown aspect_type "rename" (expected one of create, update, delete))"},
      {"aspect_type_null", With("aspect_type", nullptr), "aspect_type must be a string"},
      {"object_id_string", With("object_id", "1360128428"), "object_id must be an integer"},
      {"object_id_float", With("object_id", 1.5), "object_id must be an integer"},
      {"object_id_integral_float", Patched(base, "1360128428", "1360128428.0"),
       "object_id must be an integer"},
      {"object_id_exponent", Patched(base, "1360128428", "1e10"),
       "object_id must be an integer"},
      {"object_id_bool", With("object_id", true), "object_id must be an integer"},
      {"object_id_null", With("object_id", nullptr), "object_id must be an integer"},
      {"object_id_zero", With("object_id", 0), "object_id must be a positive integer"},
      {"object_id_negative", With("object_id", -5), "object_id must be a positive integer"},
      {"object_id_too_big", With("object_id", uint64_t{18446744073709551615u}), "object_id is out of range"},
      {"owner_id_zero", With("owner_id", 0), "owner_id must be a positive integer"},
      {"owner_id_float", With("owner_id", 134815.5), "owner_id must be an integer"},
      {"subscription_id_negative", With("subscription_id", -1), "subscription_id must be a positive integer"},
      {"subscription_id_string", With("subscription_id", "120475"), "subscription_id must be an integer"},
      {"event_time_string", With("event_time", "1516126040"), "event_time must be an integer"},
      {"event_time_float", With("event_time", 1516126040.5), "event_time must be an integer"},
      {"event_time_negative", With("event_time", -1), "event_time must not be negative"},
      {"updates_array", With("updates", Json::array()), "updates must be an object"},
      {"updates_string", With("updates", "{}"), "updates must be an object"},
      {"updates_null", With("updates", nullptr), "updates must be an object"},
      {"updates_too_long", WithUpdatesOfSize(2001),
       "updates must be at most 2000 characters when serialized"},
      {"title_number", With("updates", Json{{"title", 5}}), "updates.title must be a string"},
      {"type_array", With("updates", Json{{"type", Json::array({"Ride"})}}), "updates.type must be a string"},
      {"unknown_update_object", With("updates", Json{{"gear", Json::object()}}), "updates.gear must be a string"},
      {"private_bool", With("updates", Json{{"private", true}}),
       R"(updates.private must be the string "true" or "false")"},
      {"private_yes", With("updates", Json{{"private", "yes"}}),
       R"(updates.private must be the string "true" or "false")"},
      {"authorized_bool", With("updates", Json{{"authorized", false}}),
       R"(updates.authorized must be the string "true" or "false")"},
      {"authorized_caps", With("updates", Json{{"authorized", "FALSE"}}),
       R"(updates.authorized must be the string "true" or "false")"},
      // Order of checks: syntax before fields, fields in the documented order.
      {"malformed_and_missing_fields", R"({"object_type":"gear",)", "malformed JSON: ", true, "line 1"},
      {"type_before_id", Patched(With("object_type", "gear"), "1360128428", "0"),
       R"(unknown object_type "gear" (expected one of activity, athlete))"},
  };
}

}  // namespace dl::http::webhook::testing
