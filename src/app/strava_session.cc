#include "app/strava_session.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "core/time.h"

namespace dl::app {
namespace {

using std::chrono::milliseconds;
using TimePoint = ports::Clock::TimePoint;

TimePoint FromEpochMs(int64_t ms) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(milliseconds(ms)));
}

std::string IsoUtc(int64_t epoch_s) {
  return core::FormatIsoUtc(core::TimePoint(std::chrono::seconds(epoch_s)));
}

std::string InHoursMinutes(int64_t seconds) {
  seconds = std::max<int64_t>(seconds, 0);
  int64_t h = seconds / 3600, m = (seconds % 3600 + 59) / 60;
  return h > 0 ? std::to_string(h) + " h " + std::to_string(m) + " min" : std::to_string(m) + " min";
}

Error WithAdvice(Error e, const std::string& advice) {
  e.message += advice;
  return e;
}

}  // namespace

const char* WaitReasonText(WaitReason reason) {
  switch (reason) {
    case WaitReason::kWindow: return "15-minute rate limit";
    case WaitReason::kDaily: return "daily rate limit";
    case WaitReason::kBackoff: return "retry after a fault";
  }
  return "wait";
}

StravaSession::StravaSession(ports::StravaApi& api, ports::TokenStore& tokens, ports::RateBudgetStore& budget,
                             ports::Clock& clock, SessionOptions options, SessionObserver* observer)
    : api_(api),
      tokens_(tokens),
      budget_(budget),
      clock_(clock),
      options_(std::move(options)),
      observer_(observer != nullptr ? observer : &no_observer_),
      rng_(options_.rng_seed != 0 ? options_.rng_seed : std::random_device{}()) {
  options_.max_attempts = std::max(options_.max_attempts, 1);
}

int64_t StravaSession::NowS() const {
  return std::chrono::floor<std::chrono::seconds>(clock_.Now().time_since_epoch()).count();
}

// ---- public calls ----

Result<std::vector<core::Activity>> StravaSession::ListActivities(const ports::ListQuery& query) {
  return Send<std::vector<core::Activity>>(
      true, true, [&](const std::string& token) { return api_.ListActivities(token, query); });
}

Result<core::Activity> StravaSession::GetActivity(int64_t id) {
  return Send<core::Activity>(true, true,
                              [&](const std::string& token) { return api_.GetActivity(token, id); });
}

Result<int64_t> StravaSession::AthleteId() {
  if (!token_)
    if (Status s = LoadOrSeed(); !s) return std::unexpected(s.error());
  return token_->athlete_id;
}

Result<int64_t> StravaSession::CreateSubscription(const std::string& callback_url,
                                                  const std::string& verify_token) {
  return Send<int64_t>(
      false, false, [&](const std::string&) { return api_.CreateSubscription(callback_url, verify_token); });
}

Result<std::vector<ports::Subscription>> StravaSession::ListSubscriptions() {
  return Send<std::vector<ports::Subscription>>(true, false,
                                                [&](const std::string&) { return api_.ListSubscriptions(); });
}

Status StravaSession::DeleteSubscription(int64_t id) {
  Result<bool> r = Send<bool>(false, false, [&](const std::string&) { return api_.DeleteSubscription(id); });
  if (!r) return std::unexpected(r.error());
  return Ok();
}

core::RateBudgetState StravaSession::Budget() {
  int64_t now = NowS();
  auto state = budget_.UpdateRateBudget(
      [&](core::RateBudgetState& s) { core::RollWindows(s, options_.windows, now); });
  if (state) last_budget_ = *state;
  return last_budget_;
}

Result<ports::TokenSet> StravaSession::ExchangeCode(const std::string& code) {
  auto exchange = [&] { return CallOAuth<ports::TokenSet>([&] { return api_.ExchangeCode(code); }); };
  Result<ports::TokenSet> set = exchange();
  if (!set && set.error().code == ErrorCode::kUnauthorized) {
    // Strava sometimes refuses a code used the instant it was issued and
    // accepts it about two seconds later; one such retry is cheap.
    if (Status w = WaitUntil(WaitReason::kBackoff, clock_.Now() + std::chrono::seconds(2)); !w)
      return std::unexpected(w.error());
    set = exchange();
  }
  if (!set) return std::unexpected(set.error());
  Result<ports::StoredToken> stored = Adopt(*set, set->scope);
  if (!stored) return std::unexpected(stored.error());
  ports::TokenSet out = *set;
  out.athlete_id = stored->athlete_id;
  return out;
}

// ---- the request loop ----

template <class T>
Result<T> StravaSession::Send(bool is_read, bool needs_token, const Sender<T>& send) {
  Attempts attempts;
  attempts.needs_token = needs_token;
  for (;;) {
    // The budget first: a wait may outlast the token, which is checked after.
    if (Status b = AcquireBudget(is_read); !b) return std::unexpected(b.error());
    std::string token;
    if (needs_token) {
      Result<std::string> t = AccessToken();
      if (!t) return std::unexpected(t.error());
      token = std::move(*t);
    }
    ports::ApiResponse<T> answer = send(token);
    ++requests_sent_;
    RecordAnswer(answer.rate);
    if (answer.value) return std::move(*answer.value);
    if (Status next = Recover(answer.value.error(), attempts); !next) return std::unexpected(next.error());
  }
}

Status StravaSession::Recover(const Error& error, Attempts& attempts) {
  switch (error.code) {
    case ErrorCode::kUnauthorized:
      if (!attempts.needs_token || attempts.refreshed_after_401)
        return std::unexpected(WithAdvice(error, "; run `desirelines auth` to authorize again"));
      attempts.refreshed_after_401 = true;
      return Refresh();
    case ErrorCode::kRateLimited:
    case ErrorCode::kDailyRateLimited:
      // The budget said yes but Strava said no (another client of the same
      // application, or a clock off by a little): trust Strava.
      MarkExhausted(error.code == ErrorCode::kDailyRateLimited);
      if (++attempts.rate_limited > options_.max_rate_limit_waits) return std::unexpected(error);
      return Ok();  // AcquireBudget waits (or returns kDailyRateLimited) next
    case ErrorCode::kTransient: return Backoff(error, ++attempts.transient);
    default:
      return std::unexpected(error);  // inactive app, missing scope, not found, ...: retrying cannot help
  }
}

template <class T>
Result<T> StravaSession::CallOAuth(const std::function<ports::ApiResponse<T>()>& call) {
  for (int attempt = 1;; ++attempt) {
    ports::ApiResponse<T> answer = call();
    if (answer.value || answer.value.error().code != ErrorCode::kTransient) return std::move(answer.value);
    if (Status b = Backoff(answer.value.error(), attempt); !b) return std::unexpected(b.error());
  }
}

Status StravaSession::Backoff(const Error& error, int attempt) {
  if (attempt >= options_.max_attempts)
    return std::unexpected(
        WithAdvice(error, " (gave up after " + std::to_string(options_.max_attempts) + " attempts)"));
  // Exponential with "equal jitter": half the capped delay fixed, half random,
  // so that clients that failed together do not retry together.
  int64_t cap = options_.base_backoff_ms;
  for (int i = 1; i < attempt && cap < options_.max_backoff_ms; ++i) cap *= 2;
  cap = std::clamp<int64_t>(cap, 1, std::max<int64_t>(options_.max_backoff_ms, 1));
  std::uniform_int_distribution<int64_t> jitter(0, cap / 2);
  int64_t delay_ms = cap - cap / 2 + jitter(rng_);
  observer_->OnRetry(error, attempt, delay_ms);
  return WaitUntil(WaitReason::kBackoff, clock_.Now() + milliseconds(delay_ms));
}

// ---- the rate budget ----

Status StravaSession::AcquireBudget(bool is_read) {
  if (is_read && TakeReservedRead()) return Ok();
  for (;;) {
    int64_t now = NowS();
    core::BudgetDecision decision;
    int64_t ahead = 0;
    auto state = budget_.UpdateRateBudget([&](core::RateBudgetState& s) {
      if (unmerged_) core::Observe(s, options_.windows, now, *unmerged_);
      decision = core::Reserve(s, options_.windows, now, is_read);
      ahead = decision.verdict == core::BudgetVerdict::kGranted && is_read ? ReserveAhead(s, now) : 0;
    });
    if (!state)
      return std::unexpected(WithAdvice(state.error(), " (while reserving the Strava rate budget)"));
    unmerged_.reset();
    last_budget_ = *state;
    if (decision.verdict == core::BudgetVerdict::kGranted) {
      reserved_reads_ = ahead;
      reserved_window_ = state->window_start_epoch_s;
      reserved_day_ = state->day_start_epoch_s;
      return Ok();
    }
    bool daily = decision.verdict == core::BudgetVerdict::kWaitDay;
    if (daily && !options_.wait_for_daily)
      return Fail(ErrorCode::kDailyRateLimited,
                  "Strava's daily request limit for this application is spent; it frees at " +
                      IsoUtc(decision.retry_at_epoch_s) + " (in " +
                      InHoursMinutes(decision.retry_at_epoch_s - now) +
                      "): run the same command again then, or pass --wait");
    Status w =
        WaitUntil(daily ? WaitReason::kDaily : WaitReason::kWindow, WindowFreesAt(decision.retry_at_epoch_s));
    if (!w) return w;
  }
}

namespace {

// Gives `reads` reserved and not sent back to the four buckets they were
// counted in; a bucket marked spent (a 429 somewhere) stays spent.
void GiveBack(core::RateBudgetState& s, int64_t reads) {
  auto give_back = [&](int64_t& used, int64_t limit) {
    if (used < limit) used = std::max<int64_t>(0, used - reads);
  };
  give_back(s.used_15min, s.limit_15min);
  give_back(s.used_daily, s.limit_daily);
  give_back(s.read_used_15min, s.read_limit_15min);
  give_back(s.read_used_daily, s.read_limit_daily);
}

// What the buckets a read counts in have left: the least of the four.
int64_t ReadHeadroom(const core::RateBudgetState& s) {
  return std::min({s.limit_15min - s.used_15min, s.limit_daily - s.used_daily,
                   s.read_limit_15min - s.read_used_15min, s.read_limit_daily - s.read_used_daily});
}

}  // namespace

bool StravaSession::TakeReservedRead() {
  if (reserved_reads_ <= 0) return false;
  const int64_t now = NowS();
  if (options_.windows.WindowStart(now) != reserved_window_ || options_.windows.DayStart(now) != reserved_day_) {
    // They counted in a window that is over. They also stay counted in the
    // day: giving them back there could take the store below what Strava
    // counted when a header merged them away meanwhile (review, session 4);
    // at most reserve_ahead - 1 reads of the day, on the safe side.
    reserved_reads_ = 0;
    return false;
  }
  --reserved_reads_;
  return true;
}

int64_t StravaSession::ReserveAhead(core::RateBudgetState& s, int64_t now) {
  int64_t n = 0;
  // Near the end of a bucket, one at a time: what is left stays shared.
  while (n + 1 < options_.reserve_ahead && ReadHeadroom(s) >= 2 * options_.reserve_ahead &&
         core::Reserve(s, options_.windows, now, true).verdict == core::BudgetVerdict::kGranted)
    ++n;
  return n;
}

Status StravaSession::Settle() {
  if (reserved_reads_ <= 0 && !unmerged_) return Ok();
  const int64_t now = NowS();
  auto state = budget_.UpdateRateBudget([&](core::RateBudgetState& s) {
    core::RollWindows(s, options_.windows, now);
    if (reserved_reads_ > 0 && s.window_start_epoch_s == reserved_window_ && s.day_start_epoch_s == reserved_day_)
      GiveBack(s, reserved_reads_);
    // Never below what Strava last said it counted.
    if (last_observed_) core::Observe(s, options_.windows, now, *last_observed_);
  });
  if (!state) return std::unexpected(state.error());
  reserved_reads_ = 0;
  unmerged_.reset();
  last_budget_ = *state;
  return Ok();
}

ports::Clock::TimePoint StravaSession::WindowFreesAt(int64_t retry_at_epoch_s) const {
  int64_t grace_ms =
      std::clamp<int64_t>(options_.window_grace_ms, 0, options_.windows.WindowLengthS() * 1000 / 20);
  return FromEpochMs(retry_at_epoch_s * 1000 + grace_ms);
}

void StravaSession::RecordAnswer(const std::optional<ports::RateLimitHeaders>& rate) {
  if (rate) {
    core::ObservedUsage u{rate->limit_15min,      rate->limit_daily,      rate->usage_15min,
                          rate->usage_daily,      rate->has_read,         rate->read_limit_15min,
                          rate->read_limit_daily, rate->read_usage_15min, rate->read_usage_daily};
    int64_t now = NowS();
    u.seen_at_epoch_s = now;  // it may be merged later (reserve_ahead), maybe in a later window
    last_observed_ = u;
    if (options_.reserve_ahead > 1) {
      // Merged with the next reservation; reads reserved ahead that Strava's
      // own count could not cover any more are dropped.
      unmerged_ = u;
      core::Observe(last_budget_, options_.windows, now, u);
      int64_t left = std::min(u.limit_15min - u.usage_15min, u.limit_daily - u.usage_daily);
      if (u.has_read) left = std::min({left, u.read_limit_15min - u.read_usage_15min, u.read_limit_daily - u.read_usage_daily});
      reserved_reads_ = std::clamp<int64_t>(left, 0, reserved_reads_);
    } else {
      auto state = budget_.UpdateRateBudget(
          [&](core::RateBudgetState& s) { core::Observe(s, options_.windows, now, u); });
      if (state) last_budget_ = *state;  // a failed merge only loses precision: the reservation stands
    }
  }
  observer_->OnRequest(BudgetAsSeen(), requests_sent_);
}

core::RateBudgetState StravaSession::BudgetAsSeen() const {
  core::RateBudgetState s = last_budget_;
  if (reserved_reads_ > 0 && s.window_start_epoch_s == reserved_window_ && s.day_start_epoch_s == reserved_day_)
    GiveBack(s, reserved_reads_);
  return s;
}

void StravaSession::MarkExhausted(bool daily) {
  reserved_reads_ = 0;  // Strava refused: nothing reserved here can be sent now
  int64_t now = NowS();
  auto state = budget_.UpdateRateBudget([&](core::RateBudgetState& s) {
    if (unmerged_) core::Observe(s, options_.windows, now, *unmerged_);
    core::MarkExhausted(s, options_.windows, now, daily);
  });
  if (state) {
    unmerged_.reset();
    last_budget_ = *state;
  }
}

Status StravaSession::WaitUntil(WaitReason reason, TimePoint until) {
  observer_->OnWaitStart(reason, std::chrono::ceil<std::chrono::seconds>(until.time_since_epoch()).count());
  for (;;) {
    TimePoint now = clock_.Now();
    if (now >= until) return Ok();
    observer_->OnWait(reason, std::chrono::ceil<std::chrono::seconds>(until - now).count());
    // One-second steps so that the observer can show a countdown.
    if (!clock_.SleepUntil(std::min(until, now + std::chrono::seconds(1))))
      return Fail(ErrorCode::kTransient,
                  std::string("stopped while waiting (") + WaitReasonText(reason) + ")");
  }
}

// ---- tokens ----

Result<std::string> StravaSession::AccessToken() {
  if (!token_)
    if (Status s = LoadOrSeed(); !s) return std::unexpected(s.error());
  if (NowS() + options_.refresh_margin_s >= token_->expires_at_epoch_s)
    if (Status s = Refresh(); !s) return std::unexpected(s.error());
  return token_->access_token;
}

Status StravaSession::LoadOrSeed() {
  auto loaded = tokens_.LoadToken(options_.athlete_id);
  if (!loaded) return std::unexpected(WithAdvice(loaded.error(), " (while loading the Strava token)"));
  if (*loaded) {
    token_ = std::move(**loaded);
    return Ok();
  }
  if (options_.athlete_id == 0) {
    // A seed's rotation kept by an earlier run that could not learn the
    // athlete: the seed itself is dead, this token is the live one.
    auto pending = tokens_.LoadPendingToken();
    if (!pending) return std::unexpected(WithAdvice(pending.error(), " (while loading the Strava token)"));
    if (*pending) {
      Result<ports::StoredToken> claimed = ClaimPending(std::move(**pending));
      if (!claimed) return std::unexpected(claimed.error());
      return Ok();
    }
  }
  if (options_.seed_refresh_token.empty())
    return Fail(ErrorCode::kUnauthorized,
                "no Strava token is stored yet: run `desirelines auth`, or set STRAVA_REFRESH_TOKEN");
  Result<ports::TokenSet> set =
      CallOAuth<ports::TokenSet>([&] { return api_.Refresh(options_.seed_refresh_token); });
  if (!set) {
    Error e = set.error();
    if (e.code == ErrorCode::kUnauthorized)
      e.message = "Strava refused STRAVA_REFRESH_TOKEN (" + e.message +
                  "); it may have been used already: run `desirelines auth`";
    return std::unexpected(e);
  }
  Result<ports::StoredToken> stored = Adopt(*set, "");
  if (!stored) return std::unexpected(stored.error());
  return Ok();
}

// Saves a fresh token set under its athlete and makes it the session's token.
// When neither the answer nor the options name the athlete, the set is first
// saved as the pending token (the store keys tokens by athlete, and the
// refresh that produced it may have killed the only other refresh token), and
// then claimed once GET /athlete has named the athlete.
Result<ports::StoredToken> StravaSession::Adopt(const ports::TokenSet& set, std::string scope) {
  ports::StoredToken t{options_.athlete_id != 0 ? options_.athlete_id : set.athlete_id, set.access_token,
                       set.refresh_token, set.expires_at_epoch_s, std::move(scope)};
  if (t.athlete_id == 0) {
    if (Status s = tokens_.SavePendingToken(t); !s)
      return std::unexpected(WithAdvice(s.error(), " (while saving the new Strava token)"));
    return ClaimPending(std::move(t));
  }
  if (Status s = tokens_.SaveToken(t); !s)
    return std::unexpected(WithAdvice(s.error(), " (while saving the new Strava token)"));
  token_ = t;
  return t;
}

// `t` is the store's pending token: refreshed first when near expiry (the
// rotation saved as pending before use), then GET /athlete names the athlete
// and the token moves under it. A failure leaves it pending for the next run.
Result<ports::StoredToken> StravaSession::ClaimPending(ports::StoredToken t) {
  if (NowS() + options_.refresh_margin_s >= t.expires_at_epoch_s) {
    Result<ports::TokenSet> set = CallOAuth<ports::TokenSet>([&] { return api_.Refresh(t.refresh_token); });
    if (!set) {
      Error e = set.error();
      if (e.code == ErrorCode::kUnauthorized)
        e.message += " (the stored refresh token was refused): run `desirelines auth`";
      return std::unexpected(e);
    }
    t.access_token = set->access_token;
    t.refresh_token = set->refresh_token;
    t.expires_at_epoch_s = set->expires_at_epoch_s;
    if (Status s = tokens_.SavePendingToken(t); !s)
      return std::unexpected(WithAdvice(s.error(), " (while saving the rotated Strava refresh token)"));
  }
  Result<ports::Athlete> who =
      Send<ports::Athlete>(true, false, [&](const std::string&) { return api_.GetAthlete(t.access_token); });
  if (!who)
    return std::unexpected(WithAdvice(who.error(),
                                      " (while asking Strava who the athlete is; the new token is kept "
                                      "in the store for the next run)"));
  t.athlete_id = who->id;
  if (Status s = tokens_.ClaimPendingToken(t); !s)
    return std::unexpected(WithAdvice(s.error(), " (while saving the new Strava token)"));
  token_ = t;
  return t;
}

// Refreshes the session's token (before expiry, or after a 401). Another
// process sharing the store may have refreshed first, which made our refresh
// token worthless: its newer token is taken instead when still fresh.
Status StravaSession::Refresh() {
  auto stored = tokens_.LoadToken(token_->athlete_id);
  if (stored && *stored && (*stored)->access_token != token_->access_token) {
    token_ = std::move(**stored);
    bool fresh = NowS() + options_.refresh_margin_s < token_->expires_at_epoch_s;
    if (fresh) return Ok();
  }
  Result<ports::TokenSet> set =
      CallOAuth<ports::TokenSet>([&] { return api_.Refresh(token_->refresh_token); });
  if (!set) {
    Error e = set.error();
    if (e.code == ErrorCode::kUnauthorized) e.message += " (the stored refresh token was refused)";
    return std::unexpected(e);
  }
  ports::StoredToken t = *token_;
  t.access_token = set->access_token;
  t.refresh_token = set->refresh_token;
  t.expires_at_epoch_s = set->expires_at_epoch_s;
  // Saved before first use: the old refresh token is already dead. Replaced,
  // never re-created: a deauthorization may have deleted it meanwhile.
  if (Status s = tokens_.ReplaceToken(t); !s)
    return std::unexpected(WithAdvice(s.error(), " (while saving the rotated Strava refresh token)"));
  token_ = std::move(t);
  return Ok();
}

}  // namespace dl::app
