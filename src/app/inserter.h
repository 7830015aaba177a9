// The inserter: turns queued webhook events into stored activities, with at
// most one Strava request per activity per claimed batch.
//
// Per claimed batch (EventQueue::Claim), events are grouped by (owner,
// object) and each group is worked once, oldest first:
//  - activity events: the fields that `update` events carry (title, type,
//    private, visibility) are applied at once (PipelineStore::PatchActivity);
//    then ONE fetch (GET /activities/{id}) decides:
//      found     -> upsert it (from_webhook); a `delete` in the group was
//                   forged or stale (events are unsigned) and changes nothing
//      404       -> the activity is gone or hidden: archive it if stored
//    The group's events complete in the same transaction as the effect when
//    the queue lives in the store (store_acks_events), else after it, with the
//    rest of the claimed batch in one call (signals first, then the acks).
//  - deauthorization (athlete, authorized=false): confirmed with one request
//    that Strava now refuses the athlete's tokens (401), then the athlete's
//    activities, aggregates and tokens are deleted (or only the tokens, with
//    OnDeauthorize::kKeep). An event for an athlete whose tokens still work is
//    forged or stale and changes nothing.
//  - events of athletes without stored tokens are completed and dropped
//    (logged); other object types are completed and ignored.
//
// Failures: a spent rate budget (15-minute or daily, or a 429) puts the
// group back in the queue until the window frees, never dropped and never
// dead-lettered; every other fetch for the rest of the batch waits too.
// Transient faults (5xx, timeouts, store errors, refused tokens) are retried
// with exponential backoff (base_backoff_s * 2^(attempts-1), capped); an
// event that has been delivered max_attempts times moves to the dead letters
// with its last error. Errors that a retry cannot fix (kForbidden,
// kMissingScope, kProtocol, ...) dead-letter at once.
//
// The Strava session never sleeps: its clock refuses every wait, so that a
// worker never holds claimed events through a rate-limit window; the queue
// does all the waiting, durably.
//
// Threads: one Inserter per worker thread (it owns one StravaSession per
// athlete, and sessions are not thread-safe). Inserters of one process share
// a WorkLocks, which serialises the work on one activity (a later fetch never
// commits before an earlier one) and a deauthorization against all work on
// that athlete.
//
// Across processes (several `serve --role inserter`, on PostgreSQL or over
// Pub/Sub), WorkLocks do not reach. The guarantee there: an older fetch never
// overwrites a newer one, to the second. Every upsert or archive of a fetch
// is stamped with the fetch's START time (UpsertOptions::now_epoch_s, which
// becomes webhook_changed_at / deleted_at) and fenced at start + 1 s
// (fence_epoch_s: a row stamped at or after the fence, i.e. by a fetch or
// patch that began in a later second, is kept; so is an activity archived
// since then). A stale fetch that commits late is therefore reported as
// fenced and changes nothing (InserterStats::fenced); two fetches that start
// within the same second are not ordered (they saw Strava within one second
// of each other). Clocks of the processes must agree to well under a second
// (NTP). Within one process WorkLocks order fetches exactly, and a group's
// own patch (stamped before its fetch starts) never fences its fetch.
// On Pub/Sub, ordering keys (= athlete) make overlap rare in the first place:
// the emulator and Pub/Sub hand out the next message of a key only after the
// previous one is acked, so two processes work one athlete at once only when
// a lease ran out while its holder was still working (or after a nack, when
// the emulator re-delivers a key's messages out of order).
// After an effect that changed rows commits (and after a patch that changed
// a row), the inserter tells the aggregators through an optional
// AggregationSignal, before an external queue's ack (a crash in between
// repeats the signal). A failed signal is logged and counted only: the
// store marked the years dirty in the effect's transaction, and the
// aggregators' idle poll finds them.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "app/strava_session.h"
#include "core/rate_budget.h"
#include "core/result.h"
#include "ports/aggregation_signal.h"
#include "ports/clock.h"
#include "ports/event_queue.h"
#include "ports/store.h"
#include "ports/strava_api.h"

namespace dl::app {


enum class OnDeauthorize { kDelete, kKeep };

// "delete" | "keep" (the configuration's pipeline.on_deauthorize).
Result<OnDeauthorize> ParseOnDeauthorize(const std::string& text);

// One line of log text; must be thread-safe (called from worker threads).
using LogFn = std::function<void(const std::string& line)>;

// In-process locks of the inserters of one pipeline. Thread-safe.
class WorkLocks {
 public:
  // Releases its lock when destroyed.
  class Guard {
   public:
    Guard(WorkLocks* locks, int64_t athlete_id, std::optional<int64_t> activity_id)
        : locks_(locks), athlete_id_(athlete_id), activity_id_(activity_id) {}
    Guard(Guard&& other) noexcept
        : locks_(std::exchange(other.locks_, nullptr)), athlete_id_(other.athlete_id_),
          activity_id_(other.activity_id_) {}
    Guard& operator=(Guard&&) = delete;
    Guard(const Guard&) = delete;
    ~Guard();

   private:
    WorkLocks* locks_;
    int64_t athlete_id_;
    std::optional<int64_t> activity_id_;
  };

  // Exclusive on the activity, shared on its athlete.
  Guard LockActivity(int64_t athlete_id, int64_t activity_id);
  // Exclusive on the athlete: waits for the work on its activities to end;
  // new work on them waits for this guard (writers are not starved).
  Guard LockAthlete(int64_t athlete_id);

 private:
  struct AthleteState {
    int active = 0;          // activity guards held
    bool exclusive = false;  // an athlete guard is held
    int waiting_exclusive = 0;
  };
  void Release(int64_t athlete_id, std::optional<int64_t> activity_id);

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int64_t, AthleteState> athletes_;
  std::set<std::pair<int64_t, int64_t>> busy_;
};

struct InserterOptions {
  int claim_batch = 16;             // events per Claim
  // A claimed event is invisible to other workers this long; the inserter
  // renews the lease of its remaining events once half of it has passed, so
  // one fetch (bounded by the client's timeout) must take less than half.
  int64_t lease_s = 120;
  int max_attempts = 8;             // deliveries before a failing event is dead-lettered (>= 1)
  int64_t base_backoff_s = 5;       // first retry after a transient failure; doubles
  int64_t max_backoff_s = 1800;     // cap of one backoff
  int64_t rate_limit_grace_s = 2;   // after a window frees, before retrying
  OnDeauthorize on_deauthorize = OnDeauthorize::kDelete;
  // The queue lives in the store (SQLite, PostgreSQL): events complete in the
  // effect's transaction (exactly-once effects). false for an external queue:
  // they are acked right after the effect commits (at-least-once, and the
  // effects are idempotent).
  bool store_acks_events = true;
  core::RateWindows windows;        // as SessionOptions::windows
  int64_t window_grace_ms = 2000;   // as SessionOptions::window_grace_ms
  LogFn log;                        // may be empty
};

struct InserterStats {
  int64_t claimed = 0;          // deliveries taken from the queue
  int64_t fetches = 0;          // Strava requests sent (all kinds)
  int64_t upserted = 0;         // activities written by a fetch
  int64_t patched = 0;          // immediate patches applied to a stored row
  int64_t archived = 0;         // activities moved to deleted_activities
  int64_t forged_deletes = 0;   // delete events for activities Strava still has
  int64_t deauthorized = 0;     // confirmed deauthorizations applied
  int64_t forged_deauthorizations = 0;
  int64_t dropped = 0;          // events of athletes without tokens, or ignored kinds
  int64_t retried = 0;          // events put back after a transient failure
  int64_t rate_limited = 0;     // events put back to wait for the rate budget
  int64_t dead_lettered = 0;
  int64_t released = 0;         // events handed back at shutdown
  int64_t store_errors = 0;     // failures of the queue itself (Claim, Retry, ...)
  int64_t fenced = 0;           // stale fetches kept out because a newer one committed first
  int64_t signal_errors = 0;    // AggregationSignal::Publish failures (logged; nothing is lost)
  InserterStats& operator+=(const InserterStats& o);
};

// The ports one inserter works with. Not owned; they must outlive it. The
// store ports may all be one object (the embedded default).
struct InserterPorts {
  ports::EventQueue& queue;
  ports::ActivityStore& activities;
  ports::PipelineStore& pipeline;
  ports::TokenStore& tokens;
  ports::RateBudgetStore& budget;
  ports::StravaApi& api;  // used by this inserter's thread only (HTTP clients serialise)
  ports::Clock& clock;
  // Told after each effect that may change daily totals committed; may be
  // null (nothing told; aggregators find the store's marks at their poll).
  ports::AggregationSignal* signal = nullptr;
};

class Inserter {
 public:
  Inserter(InserterPorts ports, WorkLocks& locks, InserterOptions options);
  ~Inserter();
  Inserter(const Inserter&) = delete;
  Inserter& operator=(const Inserter&) = delete;

  // Claims one batch and works it. Returns the number of events claimed (0:
  // nothing was available). When `stop` becomes true, the events not yet
  // worked are released (available again at once) and the call returns.
  // Errors: only failures of the queue itself (the batch's events come back
  // after their lease).
  Result<int> RunOnce(const std::atomic<bool>* stop = nullptr);

  // Whether the last batch found the rate budget spent (until a known time):
  // events claimed now would only go back to wait. Same thread as RunOnce.
  bool WaitingForBudget() const { return budget_free_at_ > NowS(); }

  // Thread-safe snapshot.
  InserterStats Stats() const;

 private:
  class Group;
  class WaitRecorder;
  class NoWaitClock;

  void Work(Group& group);
  void WorkActivity(Group& group);
  void WorkDeauthorization(Group& group);
  Status ApplyPatch(const Group& group);
  // `fetch_start_s`: when the fetch began (the stamp and fence of its write).
  void Apply(Group& group, Result<core::Activity> fetched, int64_t fetch_start_s);
  void Signal(const Group& group);
  // External queue: the batch's signals, then its acks, each in one call
  // (one REST request per claimed batch instead of one per group).
  void FlushBatch();
  // The group's events complete: alone (no effect), or with `effect` when the
  // store acks inside it. `effect` receives the acks to carry.
  void Complete(Group& group, const std::function<Status(std::vector<int64_t> acks)>& effect);
  void Fail(Group& group, const Error& error);
  void WaitForBudget(Group& group, int64_t until_epoch_s);
  void Release(std::span<Group> groups);
  void RenewLeases(std::span<Group> groups);
  StravaSession& SessionFor(int64_t athlete_id);
  void DropSession(int64_t athlete_id);
  int64_t BackoffS(int attempts) const;
  int64_t NowS() const;
  void Log(const std::string& line) const;
  template <class F>
  void Count(F&& f);

  InserterPorts ports_;
  WorkLocks& locks_;
  InserterOptions options_;
  std::unique_ptr<NoWaitClock> session_clock_;
  std::unique_ptr<WaitRecorder> waits_;
  std::map<int64_t, std::unique_ptr<StravaSession>> sessions_;
  int64_t budget_free_at_ = 0;  // no fetch before this epoch second (the budget is spent)
  int64_t leased_at_ = 0;       // when the current batch's lease started
  std::vector<core::WebhookEvent> batch_signals_;  // external queue: published by FlushBatch
  std::vector<int64_t> batch_acks_;                // external queue: acked by FlushBatch, after the signals

  mutable std::mutex stats_mu_;
  InserterStats stats_;
};

}  // namespace dl::app
