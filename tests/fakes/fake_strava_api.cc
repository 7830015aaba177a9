#include "fakes/fake_strava_api.h"

#include <algorithm>
#include <chrono>

namespace dl::fakes {
namespace {

using Method = FakeStravaApi::Method;

int64_t EpochS(const ports::Clock& clock) {
  return std::chrono::floor<std::chrono::seconds>(clock.Now().time_since_epoch()).count();
}

int64_t StartEpoch(const core::Activity& a) {
  auto t = a.StartUtc();
  return t ? t->time_since_epoch().count() : 0;
}

bool IsApi(Method m) { return m != Method::kExchangeCode && m != Method::kRefresh; }

}  // namespace

const char* FakeStravaApi::MethodName(Method m) {
  switch (m) {
    case Method::kExchangeCode: return "ExchangeCode";
    case Method::kRefresh: return "Refresh";
    case Method::kGetAthlete: return "GetAthlete";
    case Method::kListActivities: return "ListActivities";
    case Method::kGetActivity: return "GetActivity";
    case Method::kCreateSubscription: return "CreateSubscription";
    case Method::kListSubscriptions: return "ListSubscriptions";
    case Method::kDeleteSubscription: return "DeleteSubscription";
  }
  return "?";
}

FakeStravaApi::FakeStravaApi(const ports::Clock& clock, EventLog* log) : clock_(clock), log_(log) {}

std::optional<FakeStravaApi::Failure> FakeStravaApi::Begin(Method m, const std::string& detail) {
  ++calls_[m];
  if (log_) log_->Add(std::string(MethodName(m)) + (detail.empty() ? "" : " " + detail));
  auto& queue = failures_[m];
  if (queue.empty()) return std::nullopt;
  Failure f = std::move(queue.front());
  queue.pop_front();
  return f;
}

template <class T>
ports::ApiResponse<T> FakeStravaApi::Answer(Result<T> value, int http_status, bool api) {
  return ports::ApiResponse<T>{std::move(value), api ? rate_ : std::nullopt, http_status};
}

template <class T>
ports::ApiResponse<T> FakeStravaApi::Failed(const Failure& f, bool api) {
  auto rate = f.rate ? f.rate : (api ? rate_ : std::nullopt);
  return ports::ApiResponse<T>{std::unexpected(f.error), rate, f.http_status};
}

std::optional<Error> FakeStravaApi::CheckAccessLocked(const std::string& token) const {
  if (!access_token_.empty() && token == access_token_ && EpochS(clock_) < access_expires_at_)
    return std::nullopt;
  return Error{ErrorCode::kUnauthorized, "Authorization Error (Athlete/access_token/invalid)"};
}

ports::TokenSet FakeStravaApi::RotateLocked() {
  ++token_serial_;
  access_token_ = "access-" + std::to_string(token_serial_);
  refresh_token_ = "refresh-" + std::to_string(token_serial_);
  access_expires_at_ = EpochS(clock_) + 21600;
  return ports::TokenSet{access_token_, refresh_token_, access_expires_at_, 0, ""};
}

ports::ApiResponse<ports::TokenSet> FakeStravaApi::ExchangeCode(const std::string& code) {
  std::lock_guard lock(mu_);
  if (auto f = Begin(Method::kExchangeCode, "")) return Failed<ports::TokenSet>(*f, false);
  if (valid_code_.empty() || code != valid_code_)
    return Answer<ports::TokenSet>(
        Fail(ErrorCode::kUnauthorized, "Bad Request (AuthorizationCode/code/invalid)"), 400, false);
  valid_code_.clear();  // a code works once
  ports::TokenSet t = RotateLocked();
  t.athlete_id = athlete_id_;
  t.scope = code_scope_;
  return Answer<ports::TokenSet>(t, 200, false);
}

ports::ApiResponse<ports::TokenSet> FakeStravaApi::Refresh(const std::string& refresh_token) {
  std::lock_guard lock(mu_);
  if (auto f = Begin(Method::kRefresh, "with=" + refresh_token)) return Failed<ports::TokenSet>(*f, false);
  if (refresh_token != refresh_token_)
    return Answer<ports::TokenSet>(
        Fail(ErrorCode::kUnauthorized, "Bad Request (RefreshToken/refresh_token/invalid)"), 400, false);
  ports::TokenSet t = RotateLocked();
  if (refresh_includes_athlete_) t.athlete_id = athlete_id_;
  return Answer<ports::TokenSet>(t, 200, false);
}

ports::ApiResponse<ports::Athlete> FakeStravaApi::GetAthlete(const std::string& access_token) {
  std::lock_guard lock(mu_);
  if (auto f = Begin(Method::kGetAthlete, "token=" + access_token)) return Failed<ports::Athlete>(*f, true);
  if (auto e = CheckAccessLocked(access_token)) return Answer<ports::Athlete>(std::unexpected(*e), 401, true);
  return Answer<ports::Athlete>(ports::Athlete{athlete_id_, "Fake", "Athlete"}, 200, true);
}

std::vector<core::Activity> FakeStravaApi::ListLocked(const ports::ListQuery& q) const {
  std::vector<core::Activity> hits;
  for (const auto& a : activities_) {
    int64_t start = StartEpoch(a);
    if (q.after_epoch_s && start <= *q.after_epoch_s) continue;
    if (q.before_epoch_s && start >= *q.before_epoch_s) continue;
    hits.push_back(a);
  }
  bool oldest_first = q.after_epoch_s.has_value();
  std::ranges::stable_sort(hits, [&](const core::Activity& x, const core::Activity& y) {
    return oldest_first ? StartEpoch(x) < StartEpoch(y) : StartEpoch(x) > StartEpoch(y);
  });
  int per_page = std::clamp(q.per_page, 1, 200);
  size_t first = static_cast<size_t>(std::max(q.page, 1) - 1) * static_cast<size_t>(per_page);
  if (first >= hits.size()) return {};
  size_t last = std::min(hits.size(), first + static_cast<size_t>(per_page));
  return {hits.begin() + static_cast<std::ptrdiff_t>(first),
          hits.begin() + static_cast<std::ptrdiff_t>(last)};
}

ports::ApiResponse<std::vector<core::Activity>> FakeStravaApi::ListActivities(const std::string& access_token,
                                                                              const ports::ListQuery& query) {
  std::lock_guard lock(mu_);
  list_queries_.push_back(query);
  std::string detail = "token=" + access_token + " page=" + std::to_string(query.page);
  if (auto f = Begin(Method::kListActivities, detail)) return Failed<std::vector<core::Activity>>(*f, true);
  if (auto e = CheckAccessLocked(access_token))
    return Answer<std::vector<core::Activity>>(std::unexpected(*e), 401, true);
  return Answer<std::vector<core::Activity>>(ListLocked(query), 200, true);
}

ports::ApiResponse<core::Activity> FakeStravaApi::GetActivity(const std::string& access_token, int64_t id) {
  std::lock_guard lock(mu_);
  if (auto f = Begin(Method::kGetActivity, "token=" + access_token + " id=" + std::to_string(id)))
    return Failed<core::Activity>(*f, true);
  if (auto e = CheckAccessLocked(access_token)) return Answer<core::Activity>(std::unexpected(*e), 401, true);
  auto it = std::ranges::find(activities_, id, &core::Activity::id);
  if (it == activities_.end())
    return Answer<core::Activity>(Fail(ErrorCode::kNotFound, "Record Not Found (Activity/id/invalid)"), 404,
                                  true);
  return Answer<core::Activity>(*it, 200, true);
}

ports::ApiResponse<int64_t> FakeStravaApi::CreateSubscription(const std::string& callback_url,
                                                              const std::string& verify_token) {
  std::lock_guard lock(mu_);
  (void)verify_token;
  if (auto f = Begin(Method::kCreateSubscription, "callback=" + callback_url))
    return Failed<int64_t>(*f, true);
  if (!subscriptions_.empty())
    return Answer<int64_t>(Fail(ErrorCode::kConflict, "Bad Request (PushSubscription//already exists)"), 400,
                           true);
  subscriptions_.push_back({next_subscription_id_, callback_url});
  return Answer<int64_t>(next_subscription_id_++, 200, true);
}

ports::ApiResponse<std::vector<ports::Subscription>> FakeStravaApi::ListSubscriptions() {
  std::lock_guard lock(mu_);
  if (auto f = Begin(Method::kListSubscriptions, ""))
    return Failed<std::vector<ports::Subscription>>(*f, true);
  return Answer<std::vector<ports::Subscription>>(subscriptions_, 200, true);
}

ports::ApiResponse<bool> FakeStravaApi::DeleteSubscription(int64_t id) {
  std::lock_guard lock(mu_);
  if (auto f = Begin(Method::kDeleteSubscription, "id=" + std::to_string(id))) return Failed<bool>(*f, true);
  auto removed = std::erase_if(subscriptions_, [&](const ports::Subscription& s) { return s.id == id; });
  if (removed == 0) return Answer<bool>(Fail(ErrorCode::kNotFound, "Resource Not Found"), 404, true);
  return Answer<bool>(true, 204, true);
}

void FakeStravaApi::SetAthleteId(int64_t id) {
  std::lock_guard lock(mu_);
  athlete_id_ = id;
}

int64_t FakeStravaApi::athlete_id() const {
  std::lock_guard lock(mu_);
  return athlete_id_;
}

void FakeStravaApi::SetActivities(std::vector<core::Activity> activities) {
  std::lock_guard lock(mu_);
  activities_ = std::move(activities);
}

void FakeStravaApi::UpsertActivity(core::Activity activity) {
  std::lock_guard lock(mu_);
  auto it = std::ranges::find(activities_, activity.id, &core::Activity::id);
  if (it != activities_.end())
    *it = std::move(activity);
  else
    activities_.push_back(std::move(activity));
}

void FakeStravaApi::RemoveActivity(int64_t id) {
  std::lock_guard lock(mu_);
  std::erase_if(activities_, [&](const core::Activity& a) { return a.id == id; });
}

void FakeStravaApi::SetRefreshToken(std::string token) {
  std::lock_guard lock(mu_);
  refresh_token_ = std::move(token);
}

void FakeStravaApi::SetAccessToken(std::string token, int64_t expires_at_epoch_s) {
  std::lock_guard lock(mu_);
  access_token_ = std::move(token);
  access_expires_at_ = expires_at_epoch_s;
}

std::string FakeStravaApi::refresh_token() const {
  std::lock_guard lock(mu_);
  return refresh_token_;
}

std::string FakeStravaApi::access_token() const {
  std::lock_guard lock(mu_);
  return access_token_;
}

void FakeStravaApi::RevokeAccessToken() {
  std::lock_guard lock(mu_);
  access_token_.clear();
}

void FakeStravaApi::SetValidCode(std::string code, std::string scope) {
  std::lock_guard lock(mu_);
  valid_code_ = std::move(code);
  code_scope_ = std::move(scope);
}

void FakeStravaApi::SetRefreshIncludesAthlete(bool on) {
  std::lock_guard lock(mu_);
  refresh_includes_athlete_ = on;
}

void FakeStravaApi::SetRateHeaders(std::optional<ports::RateLimitHeaders> headers) {
  std::lock_guard lock(mu_);
  rate_ = headers;
}

void FakeStravaApi::FailNext(Method m, ErrorCode code, int times, int http_status,
                             std::optional<ports::RateLimitHeaders> rate) {
  FailNext(m, Error{code, std::string("scripted ") + ErrorCodeName(code)}, times, http_status, rate);
}

void FakeStravaApi::FailNext(Method m, Error error, int times, int http_status,
                             std::optional<ports::RateLimitHeaders> rate) {
  std::lock_guard lock(mu_);
  for (int i = 0; i < times; ++i) failures_[m].push_back(Failure{error, http_status, rate});
}

int FakeStravaApi::Calls(Method m) const {
  std::lock_guard lock(mu_);
  auto it = calls_.find(m);
  return it == calls_.end() ? 0 : it->second;
}

int FakeStravaApi::ApiCalls() const {
  std::lock_guard lock(mu_);
  int n = 0;
  for (const auto& [m, count] : calls_)
    if (IsApi(m)) n += count;
  return n;
}

std::vector<ports::ListQuery> FakeStravaApi::list_queries() const {
  std::lock_guard lock(mu_);
  return list_queries_;
}

core::Activity MakeActivity(int64_t id, int64_t athlete_id, const std::string& start_date_utc,
                            double distance_m, const std::string& sport_type) {
  core::Activity a;
  a.id = id;
  a.athlete_id = athlete_id;
  a.name = "Activity " + std::to_string(id);
  a.distance_m = distance_m;
  a.moving_time_s = 3600;
  a.elapsed_time_s = 3900;
  a.type = sport_type == "Run" || sport_type == "TrailRun" ? "Run" : "Ride";
  a.sport_type = sport_type;
  a.start_date = start_date_utc;
  a.start_date_local = start_date_utc;
  a.timezone = "(GMT+00:00) Europe/London";
  a.visibility = "everyone";
  a.raw_json = "{\"id\":" + std::to_string(id) + ",\"athlete\":{\"id\":" + std::to_string(athlete_id) +
               "},\"start_date\":\"" + start_date_utc + "\",\"distance\":" + std::to_string(distance_m) +
               ",\"sport_type\":\"" + sport_type + "\"}";
  return a;
}

}  // namespace dl::fakes
