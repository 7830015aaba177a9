#include "http/webhook/webhook_routes.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "http/url.h"
#include "http/webhook/webhook_parser.h"

namespace dl::http::webhook {
namespace {

constexpr const char* kUnavailable = "temporarily unavailable";
constexpr size_t kMaxChallengeBytes = 1024;

void Log(const WebhookContext& context, const std::string& line) {
  if (context.log) context.log(line);
}

Response Validate(const WebhookContext& context, const Request& request) {
  if (request.Query("hub.mode") != "subscribe") {
    return Response::Error(400, "hub.mode must be \"subscribe\"");
  }
  const std::string& expected = context.options.verify_token;
  const auto token = request.Query("hub.verify_token");
  if (expected.empty() || !token || !ConstantTimeEquals(*token, expected)) {
    return Response::Error(403, "hub.verify_token does not match");
  }
  const auto challenge = request.Query("hub.challenge");
  if (!challenge) return Response::Error(400, "hub.challenge is missing");
  // Strava's challenges are short ASCII strings; anything else could not be
  // echoed as valid JSON (JsonQuote passes bytes >= 0x80 through).
  const bool ascii = std::all_of(challenge->begin(), challenge->end(),
                                 [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  if (!ascii || challenge->size() > kMaxChallengeBytes) {
    return Response::Error(400, "hub.challenge must be at most 1024 ASCII characters");
  }
  return Response::Json(200, "{\"hub.challenge\":" + JsonQuote(*challenge) + "}");
}

Response Unavailable(const WebhookContext& context, const std::string& what, const Error& error) {
  Log(context, "webhook: " + what + ": " + error.message);
  return Response::Error(503, kUnavailable);
}

Response ReceiveEvent(const WebhookContext& context, const Request& request) {
  if (request.body.size() > context.options.max_body_bytes) {
    return Response::Error(413, "request body too large");
  }
  auto event = ParseWebhookEvent(request.body);
  if (!event) return Response::Error(400, event.error().message);
  const int64_t expected_subscription = context.options.subscription_id;
  if (expected_subscription != 0 && event->subscription_id != expected_subscription) {
    return Response::Error(403, "subscription_id does not match");
  }
  if (context.athlete_filter) {
    auto known = context.athlete_filter(event->owner_id);
    if (!known) return Unavailable(context, "athlete lookup failed", known.error());
    if (!*known) {
      Log(context, "webhook: dropped an event for unknown athlete " + std::to_string(event->owner_id));
      return Response::Json(200, R"({"status":"ignored"})");
    }
  }
  auto outcome = context.intake->Submit(*event);
  if (!outcome) return Unavailable(context, "could not queue event", outcome.error());
  return Response::Json(200, *outcome == ports::EnqueueOutcome::kQueued ? R"({"status":"queued"})"
                                                                         : R"({"status":"duplicate"})");
}

Response Ready(const WebhookContext& context) {
  if (context.ready) {
    if (auto status = context.ready(); !status) {
      Log(context, "readyz: " + status.error().message);
      return Response::Error(503, "not ready");
    }
  }
  return Response::Json(200, R"({"status":"ready"})");
}

}  // namespace

bool ConstantTimeEquals(std::string_view given, std::string_view expected) {
  // Runs over `expected` whatever `given` is; a length mismatch is folded in
  // rather than returned early.
  unsigned diff = given.size() == expected.size() ? 0u : 1u;
  for (size_t i = 0; i < expected.size(); ++i) {
    const auto g = static_cast<unsigned char>(i < given.size() ? given[i] : 0);
    diff |= static_cast<unsigned>(g ^ static_cast<unsigned char>(expected[i]));
  }
  // Keeps the compiler from turning the loop into an early-exit comparison.
  volatile unsigned result = diff;
  return result == 0;
}

void RegisterWebhookRoutes(Router& router, WebhookContext& context) {
  if (context.intake == nullptr) throw std::invalid_argument("webhook routes need an intake");
  const std::string& path = context.options.path;
  if (path.empty() || path.front() != '/') throw std::invalid_argument("webhook path must start with '/'");
  if (context.options.subscription_id == 0) {
    Log(context, "webhook: warning: no subscription id configured; accepting events of any subscription");
  }
  if (context.options.verify_token.empty()) {
    Log(context, "webhook: warning: no verify token configured; subscription validation will fail");
  }
  const WebhookContext* c = &context;
  router.Add("GET", path, [c](const Request& r) { return Validate(*c, r); });
  router.Add("POST", path, [c](const Request& r) { return ReceiveEvent(*c, r); });
  router.Add("HEAD", path, [](const Request&) { return Response::Json(200, ""); });
  router.Add("GET", "/healthz", [](const Request&) { return Response::Json(200, R"({"status":"ok"})"); });
  router.Add("GET", "/readyz", [c](const Request&) { return Ready(*c); });
}

}  // namespace dl::http::webhook
