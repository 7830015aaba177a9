// A Strava webhook event, as validated at intake. Events are unsigned and so
// untrusted: they only ever trigger a fetch from Strava, never a destructive
// change on their word alone.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace dl::core {

struct WebhookEvent {
  std::string object_type;  // "activity" | "athlete"
  int64_t object_id = 0;    // activity id, or athlete id for athlete events
  std::string aspect_type;  // "create" | "update" | "delete"
  int64_t owner_id = 0;     // athlete id
  int64_t subscription_id = 0;
  int64_t event_time = 0;   // epoch seconds
  // From `updates` (strings on the wire; "true"/"false" for booleans).
  std::optional<std::string> title;
  std::optional<std::string> type;
  std::optional<bool> is_private;
  std::optional<std::string> visibility;
  std::optional<bool> authorized;  // athlete events: false = deauthorized
  std::string updates_json = "{}";  // the updates object as received

  bool IsDeauthorization() const { return object_type == "athlete" && authorized == false; }
  // Strava's retries of one event share object, aspect, event_time and the
  // updates; two different updates of one activity within the same second
  // are two events.
  std::string DedupKey() const {
    return object_type + ":" + std::to_string(object_id) + ":" + aspect_type + ":" + std::to_string(event_time) +
           ":" + std::to_string(owner_id) + ":" + updates_json;
  }
  bool operator==(const WebhookEvent&) const = default;
};

}  // namespace dl::core
