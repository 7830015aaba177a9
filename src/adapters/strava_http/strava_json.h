// Parsing of Strava API v3 response bodies. Separate from the HTTP client so
// that it can be benchmarked and fuzzed on its own; simdjson stays in the .cc.
//
// Contract, for every function here: never crashes and never throws on any
// input. A body that is not well-formed JSON (truncated, garbled) is
// ErrorCode::kTransient, because it is what a cut connection looks like and a
// retry usually cures it. Well-formed JSON of the wrong shape (an object
// where an array belongs, an activity without id or athlete) is
// ErrorCode::kProtocol. Fields are read tolerantly: missing keys, explicit
// nulls, `[]` for a latlng, floats where integers belong (utc_offset
// -14400.0) and unknown extra keys are all accepted.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/activity.h"
#include "core/result.h"
#include "ports/strava_api.h"

namespace dl::adapters::strava_http {

// Reusable parser for activity pages: keeps simdjson's buffers between calls,
// which matters at hundreds of thousands of activities per second. Not
// thread-safe: one per thread.
class ActivityParser {
 public:
  ActivityParser();
  ~ActivityParser();
  ActivityParser(const ActivityParser&) = delete;
  ActivityParser& operator=(const ActivityParser&) = delete;

  // A JSON array of SummaryActivity objects. Each Activity's raw_json holds
  // the exact bytes of its object as received.
  Result<std::vector<core::Activity>> ParsePage(std::string_view body);
  // The same, into `page`: the activities already in it are overwritten
  // (every field, as if fresh) and their strings keep their buffers, so a
  // recycled page parses with next to no allocation. On an error `page`
  // holds an unspecified number of activities in unspecified states.
  Status ParsePageInto(std::string_view body, std::vector<core::Activity>& page);
  // The same without copying the body (simdjson needs padding after it):
  // `body` is padded in place, its size and bytes unchanged, its capacity
  // grown when short of the padding (a reused buffer has it already).
  Status ParsePageInPlace(std::string& body, std::vector<core::Activity>& page);
  // One SummaryActivity or DetailedActivity object.
  Result<core::Activity> ParseOne(std::string_view body);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One-shot conveniences over a temporary ActivityParser.
Result<std::vector<core::Activity>> ParseActivityPage(std::string_view body);
Result<core::Activity> ParseActivity(std::string_view body);

// The /oauth/token answer. athlete_id is set when the body carries
// athlete.id (code exchange), else 0. scope is left empty: Strava reports
// the granted scope in the authorization redirect, not here.
Result<ports::TokenSet> ParseTokenSet(std::string_view body);
Result<ports::Athlete> ParseAthlete(std::string_view body);
// GET /push_subscriptions: an array of {id, callback_url, ...}.
Result<std::vector<ports::Subscription>> ParseSubscriptions(std::string_view body);
// POST /push_subscriptions: {"id": N}.
Result<int64_t> ParseSubscriptionId(std::string_view body);

// Strava's fault body: {"message": ..., "errors": [{resource, field, code}]}.
// Every member is optional and `errors` may be anything (a string has been
// seen); whatever cannot be read is left empty. Never fails.
struct FaultItem {
  std::string resource, field, code;
};
struct Fault {
  std::string message;
  std::vector<FaultItem> errors;
  // "Bad Request (RefreshToken/refresh_token/invalid)": for error messages.
  // Bounded in length; Strava's faults never echo credentials.
  std::string Describe() const;
};
Fault ParseFault(std::string_view body);

}  // namespace dl::adapters::strava_http
