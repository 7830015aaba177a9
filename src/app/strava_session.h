// StravaSession: how desirelines talks to Strava. Wraps ports::StravaApi with
// the token lifecycle, the shared rate budget and the retry policy, so that
// use cases (backfill, webhook intake, auth) only ask for data.
//
// Tokens: the stored token is refreshed before use when it expires within
// refresh_margin_s; the rotated refresh token is saved (TokenStore::SaveToken,
// atomic) BEFORE the new access token is used, because Strava invalidates the
// old refresh token at once. A 401 on an API call refreshes once and retries
// once. With no stored token and a seed refresh token (STRAVA_REFRESH_TOKEN),
// the seed is refreshed (which kills it) and, unless the options name the
// athlete, the new token is saved as the store's pending token
// (TokenStore::SavePendingToken) before GET /athlete names the athlete; then
// it is moved under that id (ClaimPendingToken). If that GET fails (or the
// process dies), the next session without an athlete id takes the pending
// token instead of the dead seed.
//
// Rate budget: every /api/v3 request is first reserved in the budget shared
// through ports::RateBudgetStore (core::Reserve; GETs also count as reads)
// and every answer's headers are merged back (core::Observe). A spent
// 15-minute bucket means waiting for the next window, with the observer told
// every second; a spent daily bucket returns kDailyRateLimited (retry time in
// the message) unless wait_for_daily. A 429 anyway marks the bucket spent
// (core::MarkExhausted) and waits the same way: never hammer. /oauth calls
// are not counted (Strava does not count them).
//
// Faults: kTransient (5xx, timeouts, resets, malformed bodies) is retried with
// exponential backoff and jitter, max_attempts in all. kInactiveApp,
// kMissingScope, kForbidden, kNotFound, kProtocol, kInvalidArgument and
// kConflict are returned at once, never retried.
//
// A wait that the clock reports as interrupted (shutdown) ends the call with
// kTransient, so that callers stop as after any resumable fault.
//
// Threads: not thread-safe; use one session per thread. Several sessions (and
// processes) may share one token store and one budget store.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/activity.h"
#include "core/rate_budget.h"
#include "core/result.h"
#include "ports/clock.h"
#include "ports/store.h"
#include "ports/strava_api.h"

namespace dl::app {

enum class WaitReason {
  kWindow,   // the 15-minute bucket is spent: until the next quarter hour
  kDaily,    // the daily bucket is spent: until UTC midnight (wait_for_daily)
  kBackoff,  // after a transient fault
};
// "15-minute rate limit", "daily rate limit", "retry after a fault".
const char* WaitReasonText(WaitReason reason);

// Progress and countdown hooks; every method has an empty default. Called on
// the session's thread, between requests and during waits.
class SessionObserver {
 public:
  virtual ~SessionObserver() = default;
  // Once when a wait begins: why, and the epoch second it ends.
  virtual void OnWaitStart(WaitReason /*reason*/, int64_t /*until_epoch_s*/) {}
  // When a wait begins and then about every second: seconds left (rounded up).
  virtual void OnWait(WaitReason /*reason*/, int64_t /*seconds_left*/) {}
  // After every /api/v3 answer (or failure to get one): the shared budget as
  // now stored, less the reads this session reserved ahead and has not sent
  // (they are still its to send), and how many /api/v3 requests this session
  // has sent.
  virtual void OnRequest(const core::RateBudgetState& /*state*/, int64_t /*requests_sent*/) {}
  // Before backing off after a transient fault: attempt is 1 for the first retry.
  virtual void OnRetry(const Error& /*error*/, int /*attempt*/, int64_t /*delay_ms*/) {}
};

struct SessionOptions {
  core::RateWindows windows;        // window_scale for strava-sim --window-scale
  bool wait_for_daily = false;      // sleep until UTC midnight instead of returning
  int max_attempts = 6;             // per request, for transient faults (>= 1)
  int64_t base_backoff_ms = 500;    // first retry waits about this, doubling after
  int64_t max_backoff_ms = 30'000;  // cap of one backoff delay
  uint64_t rng_seed = 0;            // jitter; 0 = seeded from std::random_device
  int max_rate_limit_waits = 8;     // 429s in a row for one request before giving up
  // After a window frees, wait this much more (at most 1/20 of the window) so
  // that a clock slightly behind Strava's does not meet the old window's 429.
  int64_t window_grace_ms = 2000;
  int64_t refresh_margin_s = 300;  // refresh when the token expires sooner than this
  std::string seed_refresh_token;  // used only when the store has no token (secret)
  int64_t athlete_id = 0;          // 0 = the only athlete in the store
  // Bulk readers (backfill): reserve up to this many reads in the shared
  // budget with one store update, while the buckets have at least twice that
  // left, and merge the answers' headers into the store with the next
  // reservation instead of one update each. The reads stay counted before
  // they are sent (never more than the budget allows); a header showing less
  // left on Strava's side drops reservations it could not cover. Settle()
  // gives back what is unused. 0 or 1 = one update per request and per answer.
  int reserve_ahead = 0;
};

class StravaSession {
 public:
  // References are not owned and must outlive the session; observer may be
  // null.
  StravaSession(ports::StravaApi& api, ports::TokenStore& tokens, ports::RateBudgetStore& budget,
                ports::Clock& clock, SessionOptions options, SessionObserver* observer = nullptr);
  StravaSession(const StravaSession&) = delete;
  StravaSession& operator=(const StravaSession&) = delete;

  Result<std::vector<core::Activity>> ListActivities(const ports::ListQuery& query);
  // A page ListActivities returned, done with: see ports::StravaApi::RecyclePage.
  void RecyclePage(std::vector<core::Activity> page) { api_.RecyclePage(std::move(page)); }
  // kNotFound (unknown, deleted, foreign or hidden) is returned as it is.
  Result<core::Activity> GetActivity(int64_t id);
  // The athlete whose token this session uses (loads or seeds the token).
  Result<int64_t> AthleteId();
  // Exchanges an authorization code and stores the tokens under the athlete.
  // `scope` of the result is what the API reported (often empty: take it from
  // the authorization redirect).
  Result<ports::TokenSet> ExchangeCode(const std::string& code);

  // Push subscriptions (application credentials, no athlete token).
  Result<int64_t> CreateSubscription(const std::string& callback_url, const std::string& verify_token);
  Result<std::vector<ports::Subscription>> ListSubscriptions();
  Status DeleteSubscription(int64_t id);

  // The shared budget now (windows rolled to the clock).
  core::RateBudgetState Budget();
  // With reserve_ahead: gives the reads reserved and not used back to the
  // shared budget and stores the last answer's headers. Call when done (an
  // unsettled session only keeps its reservations counted until the window
  // ends: never more requests than allowed).
  Status Settle();
  // /api/v3 requests this session has sent, 429s and failures included.
  int64_t RequestsSent() const { return requests_sent_; }

 private:
  struct Attempts {
    bool needs_token = true;
    bool refreshed_after_401 = false;
    int transient = 0;
    int rate_limited = 0;
  };
  template <class T>
  using Sender = std::function<ports::ApiResponse<T>(const std::string& access_token)>;

  template <class T>
  Result<T> Send(bool is_read, bool needs_token, const Sender<T>& send);
  // After a failed API call: Ok to try again (having waited or refreshed as
  // needed), or the error to return.
  Status Recover(const Error& error, Attempts& attempts);
  template <class T>
  Result<T> CallOAuth(const std::function<ports::ApiResponse<T>()>& call);

  Status AcquireBudget(bool is_read);
  // A read reserved ahead, still in its window and day: taken.
  bool TakeReservedRead();
  // With reserve_ahead: reserves more reads in `s` while plenty is left.
  int64_t ReserveAhead(core::RateBudgetState& s, int64_t now);
  void RecordAnswer(const std::optional<ports::RateLimitHeaders>& rate);
  // last_budget_ with the reads reserved and not sent given back (for the observer).
  core::RateBudgetState BudgetAsSeen() const;
  void MarkExhausted(bool daily);
  Status Backoff(const Error& error, int attempt);
  Status WaitUntil(WaitReason reason, ports::Clock::TimePoint until);
  ports::Clock::TimePoint WindowFreesAt(int64_t retry_at_epoch_s) const;

  Result<std::string> AccessToken();
  Status LoadOrSeed();
  Status Refresh();
  Result<ports::StoredToken> Adopt(const ports::TokenSet& set, std::string scope);
  Result<ports::StoredToken> ClaimPending(ports::StoredToken t);

  int64_t NowS() const;

  ports::StravaApi& api_;
  ports::TokenStore& tokens_;
  ports::RateBudgetStore& budget_;
  ports::Clock& clock_;
  SessionOptions options_;
  SessionObserver* observer_;
  SessionObserver no_observer_;
  std::optional<ports::StoredToken> token_;
  std::mt19937_64 rng_;
  int64_t requests_sent_ = 0;
  core::RateBudgetState last_budget_;
  // reserve_ahead: reads reserved and not yet sent, with the window and day
  // they count in; the headers not yet merged into the store, and the last.
  int64_t reserved_reads_ = 0;
  int64_t reserved_window_ = 0, reserved_day_ = 0;
  std::optional<core::ObservedUsage> unmerged_, last_observed_;
};

}  // namespace dl::app
