// Strict parsing and validation of a Strava webhook event body.
//
// The body must be one JSON object (nothing after it but whitespace; no
// duplicate keys at the top level or in `updates`; nesting at most 1024
// levels deep) with:
//   object_type      "activity" | "athlete"
//   object_id        integer > 0 (int64; floats and exponents are refused)
//   aspect_type      "create" | "update" | "delete"
//   owner_id         integer > 0
//   subscription_id  integer > 0
//   event_time       integer >= 0 (epoch seconds)
//   updates          object (optional: absent means {}); every value a
//                    string; "private" and "authorized" must be "true" or
//                    "false"; serialized (compact, keys in the order
//                    received: WebhookEvent::updates_json) at most 2,000
//                    characters.
// Unknown top-level keys are tolerated (Strava may add fields), and so are
// unknown keys inside `updates` as long as their values are strings.
// The fields are checked in the order listed, so the first problem is the one
// reported.
//
// Errors are kInvalidArgument with a message fit for a 400 answer: it names
// the field and the rule ("object_id must be an integer"), or for malformed
// JSON the parser's description with line and column. Text echoed from the
// body is truncated and reduced to printable ASCII.
//
// Pure and thread-safe.
#pragma once

#include <cstddef>
#include <string_view>

#include "core/result.h"
#include "core/webhook_event.h"

namespace dl::http::webhook {

inline constexpr size_t kMaxUpdatesChars = 2000;

Result<core::WebhookEvent> ParseWebhookEvent(std::string_view body);

}  // namespace dl::http::webhook
