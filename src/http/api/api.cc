#include "http/api/api.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <system_error>

#include "core/pacing.h"
#include "http/api/assets.h"
#include "http/api/http_policy.h"
#include "http/api/json_views.h"

namespace dl::http::api {

core::Date UtcDate(ports::Clock::TimePoint now) {
  return core::Date{std::chrono::floor<std::chrono::days>(now)};
}

namespace {

constexpr int kMinYear = 1900;
constexpr int kMaxYear = 2100;
constexpr const char* kReadMethods = "GET, HEAD, OPTIONS";
constexpr const char* kGoalMethods = "GET, HEAD, PUT, OPTIONS";

Result<int> ParseYear(const std::string& text) {
  if (text.size() != 4 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return Fail(ErrorCode::kInvalidArgument, "malformed year: expected four digits");
  }
  const int year = std::stoi(text);
  if (year < kMinYear || year > kMaxYear) {
    return Fail(ErrorCode::kInvalidArgument,
                "year " + text + " is out of range (" + std::to_string(kMinYear) + "-" + std::to_string(kMaxYear) + ")");
  }
  return year;
}

Status CheckCategory(const std::string& name, const core::SportCategories& categories) {
  const bool well_formed = !name.empty() && name.size() <= 32 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
  if (!well_formed) return Fail(ErrorCode::kInvalidArgument, "malformed category: expected [a-z0-9-], 1-32 characters");
  if (!categories.Has(name)) return Fail(ErrorCode::kNotFound, "unknown category '" + name + "'");
  return Ok();
}

Response FromError(const Error& e) {
  switch (e.code) {
    case ErrorCode::kInvalidArgument: return Response::Error(400, e.message);
    case ErrorCode::kNotFound: return Response::Error(404, e.message);
    case ErrorCode::kUnauthorized: return Response::Error(401, e.message);
    case ErrorCode::kForbidden: return Response::Error(403, e.message);
    default: return Response::Error(503, "store unavailable: " + e.message);
  }
}

Result<core::DistanceUnit> UnitOf(const Request& request) {
  const auto text = request.Query("unit");
  if (!text) return core::DistanceUnit::kKm;
  auto unit = core::ParseUnit(*text);
  if (!unit) return Fail(ErrorCode::kInvalidArgument, "unit must be \"km\" or \"mi\"");
  return *unit;
}

core::DistanceGoal ToCore(const ports::Goal& g) {
  return {g.value, core::ParseUnit(g.unit).value_or(core::DistanceUnit::kKm), g.label};
}

ports::Goal ToPort(const core::DistanceGoal& g) { return {g.value, core::UnitName(g.unit), g.label}; }

Result<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return Fail(ErrorCode::kNotFound, "not found");
    return Fail(ErrorCode::kIo, "cannot read " + path.filename().string());
  }
  std::ostringstream body;
  body << in.rdbuf();
  return body.str();
}

// The handlers; one instance shared by every route registered.
class Api : public std::enable_shared_from_this<Api> {
 public:
  explicit Api(ApiContext& context) : ctx_(context) {}

  // What the /{year}/{category} routes are about.
  struct Target {
    int64_t athlete = 0;
    int year = 0;
    std::string category;
  };

  Response Health(const Request& request) const {
    return Conditional(request, Response::Json(200, "{\"status\":\"ok\"}"), kNoCache);
  }

  Response Legacy(const Request& request) const {
    auto year = ParseYear(request.path_params.at("year"));
    if (!year) return FromError(year.error());
    const std::string& kind = request.path_params.at("kind");
    const char* file = kind == "summary" ? "summary_activities.json" : kind == "distances" ? "distances.json" : nullptr;
    if (file == nullptr) return Response::Error(400, "unknown type: expected summary or distances");
    auto body = ReadFile(ctx_.options.data_dir / "activities" / std::to_string(*year) / file);
    if (!body && body.error().code == ErrorCode::kNotFound) {
      return Response::Error(404, "no data for " + std::to_string(*year));
    }
    if (!body) return Response::Error(503, body.error().message);
    return Conditional(request, Response::Json(200, std::move(*body)), kNoCache);
  }

  Response Years(const Request& request) const {
    auto athlete = ctx_.athlete(request);
    if (!athlete) return FromError(athlete.error());
    auto years = ctx_.aggregates.YearsWithData(*athlete);
    if (!years) return FromError(years.error());
    const auto body = YearsJson(*years, ctx_.categories, Today(*athlete));
    return Conditional(request, Response::Json(200, body), kNoCache);
  }

  Response Year(const Request& request) const {
    auto target = ResolveTarget(request);
    if (!target) return FromError(target.error());
    auto days = ctx_.aggregates.DailyForYear(target->athlete, target->year, target->category);
    if (!days) return FromError(days.error());
    const auto body = YearSummaryJson(target->year, target->category, *days, Today(target->athlete));
    return Conditional(request, Response::Json(200, body), kNoCache);
  }

  Response PacingRoute(const Request& request) const {
    auto target = ResolveTarget(request);
    if (!target) return FromError(target.error());
    auto unit = UnitOf(request);
    if (!unit) return FromError(unit.error());
    auto stored = StoredGoals(*target);
    if (!stored) return FromError(stored.error());
    const core::Date today = Today(target->athlete);
    auto pacing = Compute(*target, today, *unit, stored->value_or(std::vector<core::DistanceGoal>{}));
    if (!pacing) return FromError(pacing.error());
    return Conditional(request, Response::Json(200, PacingJson(*pacing, target->category, today)), kNoCache);
  }

  Response GetGoals(const Request& request) const {
    auto target = ResolveTarget(request);
    if (!target) return FromError(target.error());
    auto unit = UnitOf(request);
    if (!unit) return FromError(unit.error());
    auto stored = StoredGoals(*target);
    if (!stored) return FromError(stored.error());
    if (stored->has_value()) {
      const auto body = GoalsJson(target->year, target->category, true, **stored);
      return Conditional(request, Response::Json(200, body), kNoCache);
    }
    auto pacing = Compute(*target, Today(target->athlete), *unit, {});
    if (!pacing) return FromError(pacing.error());
    const auto defaults = core::DefaultGoals(pacing->projection, *unit);
    return Conditional(request, Response::Json(200, GoalsJson(target->year, target->category, false, defaults)),
                       kNoCache);
  }

  Response PutGoals(const Request& request) const {
    if (auto denied = CheckWriteToken(request)) return *denied;
    auto target = ResolveTarget(request);
    if (!target) return FromError(target.error());
    ParsedGoals parsed = ParseGoalsBody(request.body);
    if (!parsed.syntax_error.empty()) return Response::Error(400, parsed.syntax_error);
    if (parsed.errors.empty()) parsed.errors = core::ValidateGoals(parsed.goals);
    if (!parsed.errors.empty()) return Response::Json(400, FieldErrorsJson(parsed.errors));
    std::vector<ports::Goal> goals;
    for (const auto& g : parsed.goals) goals.push_back(ToPort(g));
    if (auto saved = ctx_.goals.SaveGoals(target->athlete, target->year, target->category, goals); !saved) {
      return FromError(saved.error());
    }
    return Response::Json(200, GoalsJson(target->year, target->category, true, parsed.goals));
  }

  Response Asset(const Request& request, const std::string& path) const {
    auto asset = FindAsset(path);
    if (!asset) return Response::Error(404, "not found");
    Response response;
    response.content_type = std::string(asset->content_type);
    response.body = std::string(asset->body);
    const char* cache = path == "index.html" ? kNoCache : kImmutable;
    return Conditional(request, std::move(response), cache, std::string(asset->etag));
  }

  // CORS, security headers, and no-store on answers that chose no caching.
  Handler Finish(Handler handler) const {
    return [self = shared_from_this(), handler = std::move(handler)](const Request& request) {
      Response response = handler(request);
      const bool has_cache = std::any_of(response.headers.begin(), response.headers.end(),
                                         [](const auto& h) { return h.first == "Cache-Control"; });
      if (!has_cache) response.headers.emplace_back("Cache-Control", "no-store");
      ApplyCors(request, response, self->ctx_.options.cors_allowed_origins);
      ApplySecurityHeaders(response);
      return response;
    };
  }

  Handler PreflightFor(const char* methods) const {
    return [self = shared_from_this(), methods](const Request& request) {
      Response response = Preflight(request, self->ctx_.options.cors_allowed_origins, methods);
      ApplySecurityHeaders(response);
      return response;
    };
  }

 private:
  core::Date Today(int64_t athlete) const {
    const auto now = ctx_.clock.Now();
    return ctx_.today ? ctx_.today(athlete, now) : UtcDate(now);
  }

  Result<Target> ResolveTarget(const Request& request) const {
    auto year = ParseYear(request.path_params.at("year"));
    if (!year) return std::unexpected(year.error());
    const std::string& category = request.path_params.at("category");
    if (auto ok = CheckCategory(category, ctx_.categories); !ok) return std::unexpected(ok.error());
    auto athlete = ctx_.athlete(request);
    if (!athlete) return std::unexpected(athlete.error());
    return Target{*athlete, *year, category};
  }

  Result<std::optional<std::vector<core::DistanceGoal>>> StoredGoals(const Target& t) const {
    auto stored = ctx_.goals.LoadGoals(t.athlete, t.year, t.category);
    if (!stored) return std::unexpected(stored.error());
    if (!stored->has_value() || (*stored)->empty()) return std::optional<std::vector<core::DistanceGoal>>{};
    std::vector<core::DistanceGoal> goals;
    for (const auto& g : **stored) goals.push_back(ToCore(g));
    return std::optional{std::move(goals)};
  }

  Result<core::Pacing> Compute(const Target& t, core::Date today, core::DistanceUnit unit,
                               const std::vector<core::DistanceGoal>& goals) const {
    auto days = ctx_.aggregates.DailyForYear(t.athlete, t.year, t.category);
    if (!days) return std::unexpected(days.error());
    core::PacingInput input;
    input.year = t.year;
    input.today = today;
    input.days = *days;
    input.goals = goals;
    input.unit = unit;
    return core::ComputePacing(input);
  }

  // 403 when writes are off, 401 for a missing or wrong token; nullopt: go on.
  std::optional<Response> CheckWriteToken(const Request& request) const {
    if (ctx_.options.write_token.empty()) return Response::Error(403, "writes are disabled");
    const auto token = BearerToken(request);
    if (token && TokensEqual(*token, ctx_.options.write_token)) return std::nullopt;
    Response response = Response::Error(401, token ? "invalid write token" : "a write token is required");
    response.headers.emplace_back("WWW-Authenticate", "Bearer");
    return response;
  }

  ApiContext& ctx_;
};

}  // namespace

void RegisterApiRoutes(Router& router, ApiContext& context) {
  // Each route's handler holds the shared Api, which lives as long as the router.
  auto api = std::make_shared<Api>(context);
  auto get = [&router, api](const std::string& pattern, Response (Api::*method)(const Request&) const,
                            const char* preflight_methods) {
    router.Add("GET", pattern, api->Finish([api, method](const Request& r) { return ((*api).*method)(r); }));
    router.Add("OPTIONS", pattern, api->PreflightFor(preflight_methods));
  };
  get("/api/health", &Api::Health, kReadMethods);
  get("/api/activities/{year}/{kind}", &Api::Legacy, kReadMethods);
  get("/api/v1/years", &Api::Years, kReadMethods);
  get("/api/v1/years/{year}/{category}", &Api::Year, kReadMethods);
  get("/api/v1/years/{year}/{category}/pacing", &Api::PacingRoute, kReadMethods);
  get("/api/v1/goals/{year}/{category}", &Api::GetGoals, kGoalMethods);
  router.Add("PUT", "/api/v1/goals/{year}/{category}",
             api->Finish([api](const Request& r) { return api->PutGoals(r); }));
  router.Add("GET", "/", api->Finish([api](const Request& r) { return api->Asset(r, "index.html"); }));
  router.Add("GET", "/assets/{file}",
             api->Finish([api](const Request& r) { return api->Asset(r, "assets/" + r.path_params.at("file")); }));
}

}  // namespace dl::http::api
