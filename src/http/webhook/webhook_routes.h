// The Strava webhook endpoint and the health probes of `desirelines serve`.
//
//   GET  <path>?hub.mode=subscribe&hub.verify_token=T&hub.challenge=C
//        200 {"hub.challenge":"C"} (C JSON-escaped) when T matches; 400 when
//        hub.mode is not "subscribe", or hub.challenge is missing, not ASCII
//        or longer than 1024 bytes; 403 when the token is wrong, missing or
//        none is configured (mode, then token, then challenge). The expected
//        token is never echoed or logged; it is compared in constant time.
//   POST <path>   one event. Checks, in this order, each answering at once:
//        size > max_body_bytes   413
//        JSON syntax             400 "malformed JSON: ..."
//        fields                  400 (see webhook_parser.h)
//        subscription_id         403 when it is not the configured one
//        athlete                 200 {"status":"ignored"}, not queued, logged
//                                by owner id, when we hold no tokens for it
//        then the event is durably queued through app::Intake and only then
//        200 {"status":"queued"} or {"status":"duplicate"} (Strava's retry of
//        an event already accepted). A failure of the athlete lookup or of
//        the queue answers 503 {"error":"temporarily unavailable"} so that
//        Strava retries; the cause is logged, never sent.
//   HEAD <path>   200
//   GET  /healthz 200 {"status":"ok"}: the process serves HTTP
//   GET  /readyz  200 {"status":"ready"} when `ready` says the store is
//                 writable, 503 {"error":"not ready"} otherwise
//
// Subscription id: configure it (STRAVA_SUBSCRIPTION_ID). When it is 0 every
// subscription id is accepted and a warning is logged once, at registration:
// the endpoint still works before `subscription create` has given us an id.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "app/intake.h"
#include "core/result.h"
#include "http/server.h"

namespace dl::http::webhook {

struct WebhookOptions {
  std::string path = "/webhook";  // the README recommends a hard-to-guess path
  std::string verify_token;       // secret; empty: every validation GET is 403
  int64_t subscription_id = 0;    // 0: accept any (warning logged)
  size_t max_body_bytes = 16 * 1024;  // the server's own limit should match
};

// True when we hold tokens for the athlete. An error answers 503.
using AthleteFilter = std::function<Result<bool>(int64_t owner_id)>;
// Ok when the store is writable.
using ReadyCheck = std::function<Status()>;
// One line, no trailing newline. Never receives a secret.
using WebhookLogger = std::function<void(std::string_view line)>;

// Everything the handlers use; captured by reference, so it must outlive the
// router. Handlers run concurrently and only read it.
struct WebhookContext {
  WebhookOptions options;
  app::Intake* intake = nullptr;  // required; not owned
  AthleteFilter athlete_filter;   // empty: every athlete is ours
  ReadyCheck ready;               // empty: always ready
  WebhookLogger log;              // empty: no logging
};

// Adds the routes above. Throws std::invalid_argument when intake is null or
// the path does not start with '/' (a start-up bug).
void RegisterWebhookRoutes(Router& router, WebhookContext& context);

// Equality whose running time depends only on the length of `expected`, not
// on where the strings differ.
bool ConstantTimeEquals(std::string_view given, std::string_view expected);

}  // namespace dl::http::webhook
