// ports::StravaApi in memory: a small consistent Strava (one athlete, one
// application) plus scripted failures. Thread-safe.
//
// The world, by default:
//  - Refresh accepts only the current refresh token and rotates both tokens
//    ("access-N"/"refresh-N", 6 h lifetime from the clock), as strava-sim
//    does; any other refresh token answers 400 RefreshToken/invalid.
//  - /api/v3 calls need the current, unexpired access token (else 401).
//  - ListActivities filters by exclusive before/after on start_date, serves
//    oldest first when `after` is given (newest first otherwise), clamps
//    per_page to 200 and returns [] past the end.
//  - Every /api/v3 answer carries rate headers when SetRateHeaders was given.
// FailNext() makes the next call(s) of a method answer an error instead.
// Every call is logged to the EventLog, e.g. "GetAthlete token=access-2".
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "fakes/event_log.h"
#include "ports/clock.h"
#include "ports/strava_api.h"

namespace dl::fakes {

class FakeStravaApi final : public ports::StravaApi {
 public:
  enum class Method {
    kExchangeCode,
    kRefresh,
    kGetAthlete,
    kListActivities,
    kGetActivity,
    kCreateSubscription,
    kListSubscriptions,
    kDeleteSubscription,
  };
  static const char* MethodName(Method m);

  explicit FakeStravaApi(const ports::Clock& clock, EventLog* log = nullptr);

  // ports::StravaApi
  ports::ApiResponse<ports::TokenSet> ExchangeCode(const std::string& code) override;
  ports::ApiResponse<ports::TokenSet> Refresh(const std::string& refresh_token) override;
  ports::ApiResponse<ports::Athlete> GetAthlete(const std::string& access_token) override;
  ports::ApiResponse<std::vector<core::Activity>> ListActivities(const std::string& access_token,
                                                                 const ports::ListQuery& query) override;
  ports::ApiResponse<core::Activity> GetActivity(const std::string& access_token, int64_t id) override;
  ports::ApiResponse<int64_t> CreateSubscription(const std::string& callback_url,
                                                 const std::string& verify_token) override;
  ports::ApiResponse<std::vector<ports::Subscription>> ListSubscriptions() override;
  ports::ApiResponse<bool> DeleteSubscription(int64_t id) override;

  // --- the world ---
  void SetAthleteId(int64_t id);
  int64_t athlete_id() const;
  void SetActivities(std::vector<core::Activity> activities);
  void UpsertActivity(core::Activity activity);
  void RemoveActivity(int64_t id);
  // The refresh token the server accepts now (the athlete's seed).
  void SetRefreshToken(std::string token);
  // Makes `token` the valid access token until `expires_at_epoch_s`.
  void SetAccessToken(std::string token, int64_t expires_at_epoch_s);
  std::string refresh_token() const;
  std::string access_token() const;
  // The current access token answers 401 from now on (as after a revoke).
  void RevokeAccessToken();
  // The code ExchangeCode accepts (once).
  void SetValidCode(std::string code, std::string scope = "read,activity:read_all");
  // Added to the token answers of Refresh as athlete.id (Strava omits it).
  void SetRefreshIncludesAthlete(bool on);
  void SetRateHeaders(std::optional<ports::RateLimitHeaders> headers);

  // --- scripted failures ---
  // The next `times` calls of `m` answer `code` (with the HTTP status and
  // rate headers given) instead of doing their work.
  void FailNext(Method m, ErrorCode code, int times = 1, int http_status = 0,
                std::optional<ports::RateLimitHeaders> rate = std::nullopt);
  // The same with a message of the test's choosing.
  void FailNext(Method m, Error error, int times = 1, int http_status = 0,
                std::optional<ports::RateLimitHeaders> rate = std::nullopt);

  // --- observations ---
  int Calls(Method m) const;
  int ApiCalls() const;  // /api/v3 calls: those that count in Strava's budget
  std::vector<ports::ListQuery> list_queries() const;

 private:
  struct Failure {
    Error error;
    int http_status;
    std::optional<ports::RateLimitHeaders> rate;
  };
  // Counts and logs the call; returns the scripted failure, if any.
  std::optional<Failure> Begin(Method m, const std::string& detail);
  template <class T>
  ports::ApiResponse<T> Answer(Result<T> value, int http_status, bool api);
  template <class T>
  ports::ApiResponse<T> Failed(const Failure& f, bool api);
  // 401 unless `token` is the current, unexpired access token.
  std::optional<Error> CheckAccessLocked(const std::string& token) const;
  ports::TokenSet RotateLocked();
  std::vector<core::Activity> ListLocked(const ports::ListQuery& q) const;

  const ports::Clock& clock_;
  EventLog* log_;
  mutable std::mutex mu_;
  int64_t athlete_id_ = 4242;
  std::vector<core::Activity> activities_;
  std::string refresh_token_ = "refresh-0";
  std::string access_token_;
  int64_t access_expires_at_ = 0;
  int token_serial_ = 0;
  std::string valid_code_;
  std::string code_scope_;
  bool refresh_includes_athlete_ = false;
  std::optional<ports::RateLimitHeaders> rate_;
  std::map<Method, std::deque<Failure>> failures_;
  std::map<Method, int> calls_;
  std::vector<ports::ListQuery> list_queries_;
  std::vector<ports::Subscription> subscriptions_;
  int64_t next_subscription_id_ = 1;
};

// A plausible ride for tests: ids and dates as given, the rest filled in.
core::Activity MakeActivity(int64_t id, int64_t athlete_id, const std::string& start_date_utc,
                            double distance_m = 25'000, const std::string& sport_type = "Ride");

}  // namespace dl::fakes
