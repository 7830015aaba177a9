// The data API (JSON under /api) and the dashboard (/ and /assets/*) of
// `desirelines serve`.
//
//   GET  /api/health
//   GET  /api/activities/{year}/summary      the original gateway's files
//   GET  /api/activities/{year}/distances    (default category)
//   GET  /api/v1/years
//   GET  /api/v1/years/{year}/{category}
//   GET  /api/v1/years/{year}/{category}/pacing[?unit=km|mi]
//   GET  /api/v1/goals/{year}/{category}[?unit=km|mi]
//   PUT  /api/v1/goals/{year}/{category}     Authorization: Bearer <write token>
//   OPTIONS on every /api route (CORS preflight)
//   GET  /  and  /assets/{file}              the embedded dashboard
//
// Every JSON answer carries a strong ETag (a hash of the body) and answers
// If-None-Match with 304; API data is "no-cache" (revalidate every time, it
// changes with each webhook), hashed assets are immutable for a year.
// CORS is closed: Access-Control-Allow-Origin appears only for an Origin in
// the configured allow-list. Errors are {"error": "..."} with 400 for a
// malformed request, 404 for an unknown category or a year without files,
// 401/403 for writes, 503 when the store fails.
//
// Threading: handlers run concurrently on the server's workers; they only
// read the context, and the stores are thread-safe (ports/store.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/sports.h"
#include "core/time.h"
#include "http/server.h"
#include "ports/clock.h"
#include "ports/store.h"

namespace dl::http::api {

struct ApiOptions {
  // Empty: every write answers 403 "writes are disabled". Never logged.
  std::string write_token;
  // Exact origins ("https://example.org") that may read the API from a
  // browser on another origin; empty: none.
  std::vector<std::string> cors_allowed_origins;
  // DIR of DIR/activities/YEAR/{summary_activities,distances}.json: the
  // legacy endpoints serve these files as written by the aggregator, byte
  // for byte, as the original gateway served its stored files.
  std::filesystem::path data_dir;
};

// Everything the handlers use. Every reference must outlive the router the
// routes are registered on.
struct ApiContext {
  ports::AggregateStore& aggregates;
  ports::GoalStore& goals;
  const core::SportCategories& categories;
  const ports::Clock& clock;
  // Required. The athlete whose data a request is about (the embedded
  // default has one). An error answers 404 (kNotFound) or 503.
  std::function<Result<int64_t>(const Request&)> athlete;
  // The athlete's local calendar date at `now` (their time zone). When
  // empty, the UTC date is used.
  std::function<core::Date(int64_t athlete_id, ports::Clock::TimePoint now)> today;
  ApiOptions options;
};

// Adds every route above to `router`. `context` is captured by reference.
void RegisterApiRoutes(Router& router, ApiContext& context);

// The UTC calendar date of `now`: the default "today".
core::Date UtcDate(ports::Clock::TimePoint now);

}  // namespace dl::http::api
