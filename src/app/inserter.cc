#include "app/inserter.h"

#include <algorithm>
#include <chrono>
#include <tuple>

#include "app/aggregator.h"
#include "core/time.h"

namespace dl::app {
namespace {

// The session is built with max_attempts = 1 and says so in its message;
// retries are the queue's business here, so the remark would mislead.
std::string WithoutSessionRetryNote(std::string message) {
  const std::string note = " (gave up after 1 attempts)";
  if (message.size() >= note.size() && message.compare(message.size() - note.size(), note.size(), note) == 0)
    message.erase(message.size() - note.size());
  return message;
}

// Errors that another delivery cannot fix: dead-lettered at once, for a
// human to look at and re-drive (`desirelines events --retry`).
bool IsPermanent(ErrorCode code) {
  switch (code) {
    case ErrorCode::kForbidden:
    case ErrorCode::kMissingScope:
    case ErrorCode::kProtocol:
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kConflict:
    case ErrorCode::kInternal:
      return true;
    default:
      return false;  // kTransient, kIo, kUnauthorized, kInactiveApp, ...
  }
}

std::string IsoUtc(int64_t epoch_s) { return core::FormatIsoUtc(core::TimePoint(std::chrono::seconds(epoch_s))); }

}  // namespace

Result<OnDeauthorize> ParseOnDeauthorize(const std::string& text) {
  if (text == "delete") return OnDeauthorize::kDelete;
  if (text == "keep") return OnDeauthorize::kKeep;
  return Fail(ErrorCode::kInvalidArgument, "on_deauthorize must be 'delete' or 'keep', got '" + text + "'");
}

InserterStats& InserterStats::operator+=(const InserterStats& o) {
  claimed += o.claimed;
  fetches += o.fetches;
  upserted += o.upserted;
  patched += o.patched;
  archived += o.archived;
  forged_deletes += o.forged_deletes;
  deauthorized += o.deauthorized;
  forged_deauthorizations += o.forged_deauthorizations;
  dropped += o.dropped;
  retried += o.retried;
  rate_limited += o.rate_limited;
  dead_lettered += o.dead_lettered;
  released += o.released;
  store_errors += o.store_errors;
  fenced += o.fenced;
  signal_errors += o.signal_errors;
  return *this;
}

// ---- WorkLocks ----

WorkLocks::Guard::~Guard() {
  if (locks_ != nullptr) locks_->Release(athlete_id_, activity_id_);
}

WorkLocks::Guard WorkLocks::LockActivity(int64_t athlete_id, int64_t activity_id) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] {
    const AthleteState& s = athletes_[athlete_id];
    return !s.exclusive && s.waiting_exclusive == 0 && !busy_.contains({athlete_id, activity_id});
  });
  ++athletes_[athlete_id].active;
  busy_.insert({athlete_id, activity_id});
  return Guard(this, athlete_id, activity_id);
}

WorkLocks::Guard WorkLocks::LockAthlete(int64_t athlete_id) {
  std::unique_lock lock(mu_);
  AthleteState& s = athletes_[athlete_id];  // stays: waiting_exclusive > 0 keeps it
  ++s.waiting_exclusive;
  cv_.wait(lock, [&] { return !s.exclusive && s.active == 0; });
  --s.waiting_exclusive;
  s.exclusive = true;
  return Guard(this, athlete_id, std::nullopt);
}

void WorkLocks::Release(int64_t athlete_id, std::optional<int64_t> activity_id) {
  {
    std::lock_guard lock(mu_);
    AthleteState& s = athletes_[athlete_id];
    if (activity_id) {
      --s.active;
      busy_.erase({athlete_id, *activity_id});
    } else {
      s.exclusive = false;
    }
    if (s.active == 0 && !s.exclusive && s.waiting_exclusive == 0) athletes_.erase(athlete_id);
  }
  cv_.notify_all();
}

// ---- helpers of the inserter ----

// The events of one claimed batch that concern one (owner, object).
class Inserter::Group {
 public:
  int64_t owner_id = 0;
  std::string object_type;
  int64_t object_id = 0;
  std::vector<ports::QueuedEvent> events;  // in seq order
  bool done = false;                       // completed, retried or dead-lettered

  std::vector<int64_t> Seqs() const {
    std::vector<int64_t> seqs;
    for (const auto& e : events) seqs.push_back(e.seq);
    return seqs;
  }
  bool Has(const std::string& aspect) const {
    return std::ranges::any_of(events, [&](const auto& e) { return e.event.aspect_type == aspect; });
  }
  std::string Aspects() const {
    std::string out;
    for (const char* aspect : {"create", "update", "delete"}) {
      if (Has(aspect)) out += (out.empty() ? "" : "/") + std::string(aspect);
    }
    return out.empty() ? "other" : out;
  }
  std::string Describe() const {
    return object_type + " " + std::to_string(object_id) + " of athlete " + std::to_string(owner_id) + " (events " +
           SeqList() + ")";
  }
  std::string SeqList() const {
    std::string out;
    for (const auto& e : events) out += (out.empty() ? "" : ",") + std::to_string(e.seq);
    return out;
  }
};

// Records why and until when the session wanted to wait (it never may).
class Inserter::WaitRecorder final : public SessionObserver {
 public:
  void OnWaitStart(WaitReason reason, int64_t until_epoch_s) override { last = {reason, until_epoch_s}; }
  void Reset() { last.reset(); }
  std::optional<std::pair<WaitReason, int64_t>> last;
};

// The clock the sessions see: real time, but every wait is refused (reported
// as interrupted), so that a session returns instead of sleeping with
// claimed events in hand.
class Inserter::NoWaitClock final : public ports::Clock {
 public:
  explicit NoWaitClock(ports::Clock& inner) : inner_(inner) {}
  TimePoint Now() const override { return inner_.Now(); }
  bool SleepUntil(TimePoint t) override { return t <= inner_.Now(); }

 private:
  ports::Clock& inner_;
};

namespace {

std::vector<ports::QueuedEvent> SortedBySeq(std::vector<ports::QueuedEvent> events) {
  std::ranges::sort(events, {}, &ports::QueuedEvent::seq);
  return events;
}

}  // namespace

Inserter::Inserter(InserterPorts ports, WorkLocks& locks, InserterOptions options)
    : ports_(ports),
      locks_(locks),
      options_(std::move(options)),
      session_clock_(std::make_unique<NoWaitClock>(ports.clock)),
      waits_(std::make_unique<WaitRecorder>()) {
  options_.max_attempts = std::max(options_.max_attempts, 1);
  options_.claim_batch = std::max(options_.claim_batch, 1);
  options_.lease_s = std::max<int64_t>(options_.lease_s, 2);
}

Inserter::~Inserter() = default;

int64_t Inserter::NowS() const {
  return std::chrono::floor<std::chrono::seconds>(ports_.clock.Now().time_since_epoch()).count();
}

void Inserter::Log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

template <class F>
void Inserter::Count(F&& f) {
  std::lock_guard lock(stats_mu_);
  f(stats_);
}

InserterStats Inserter::Stats() const {
  std::lock_guard lock(stats_mu_);
  return stats_;
}

Result<int> Inserter::RunOnce(const std::atomic<bool>* stop) {
  const int64_t now = NowS();
  auto claimed = ports_.queue.Claim(options_.claim_batch, now, options_.lease_s);
  if (!claimed) {
    Count([](InserterStats& s) { ++s.store_errors; });
    return std::unexpected(claimed.error());
  }
  const int n = static_cast<int>(claimed->size());
  if (n == 0) return 0;
  leased_at_ = now;
  Count([&](InserterStats& s) { s.claimed += n; });

  // Group by (owner, object), in the order of each group's oldest event.
  std::vector<Group> groups;
  std::map<std::tuple<int64_t, std::string, int64_t>, size_t> index;
  for (auto& queued : SortedBySeq(std::move(*claimed))) {
    const core::WebhookEvent& e = queued.event;
    auto key = std::make_tuple(e.owner_id, e.object_type, e.object_id);
    auto [it, fresh] = index.try_emplace(key, groups.size());
    if (fresh) groups.push_back(Group{e.owner_id, e.object_type, e.object_id, {}, false});
    groups[it->second].events.push_back(std::move(queued));
  }
  for (size_t i = 0; i < groups.size(); ++i) {
    std::span<Group> rest = std::span(groups).subspan(i);
    if (stop != nullptr && stop->load()) {
      Release(rest);
      break;
    }
    RenewLeases(rest);
    Work(groups[i]);
  }
  FlushBatch();
  return n;
}

void Inserter::FlushBatch() {
  if (!batch_signals_.empty()) {
    if (Status s = ports_.signal->Publish(batch_signals_); !s) {
      // The store marked the years dirty in the effects' transactions: the
      // aggregators' idle poll finds them.
      Count([](InserterStats& st) { ++st.signal_errors; });
      Log("could not signal the aggregators about " + std::to_string(batch_signals_.size()) +
          " applied events: " + s.error().message);
    }
    batch_signals_.clear();
  }
  if (!batch_acks_.empty()) {
    // A failed ack redelivers events whose effects committed: harmless, the
    // effects are idempotent.
    if (Status s = ports_.queue.Ack(batch_acks_); !s) {
      Count([](InserterStats& st) { ++st.store_errors; });
      Log("could not acknowledge " + std::to_string(batch_acks_.size()) + " events: " + s.error().message);
    }
    batch_acks_.clear();
  }
}

void Inserter::Work(Group& group) {
  waits_->Reset();
  if (group.object_type == "activity") return WorkActivity(group);
  if (group.object_type == "athlete") return WorkDeauthorization(group);
  Log("ignored " + group.Describe() + ": unknown object type");
  Count([&](InserterStats& s) { s.dropped += static_cast<int64_t>(group.events.size()); });
  Complete(group, nullptr);
}

// ---- activities ----

void Inserter::WorkActivity(Group& group) {
  WorkLocks::Guard guard = locks_.LockActivity(group.owner_id, group.object_id);
  auto token = ports_.tokens.LoadToken(group.owner_id);
  if (!token) return Fail(group, token.error());
  if (!*token) {
    Log("dropped " + group.Describe() + ": no Strava token is stored for the athlete");
    Count([&](InserterStats& s) { s.dropped += static_cast<int64_t>(group.events.size()); });
    return Complete(group, nullptr);
  }
  if (Status patched = ApplyPatch(group); !patched) return Fail(group, patched.error());
  if (budget_free_at_ > NowS()) return WaitForBudget(group, budget_free_at_);
  StravaSession& session = SessionFor(group.owner_id);
  waits_->Reset();
  const int64_t sent_before = session.RequestsSent();
  const int64_t fetch_start = NowS();
  Result<core::Activity> fetched = session.GetActivity(group.object_id);
  Count([&](InserterStats& s) { s.fetches += session.RequestsSent() - sent_before; });
  Apply(group, std::move(fetched), fetch_start);
}

Status Inserter::ApplyPatch(const Group& group) {
  ports::ActivityPatch patch;
  patch.athlete_id = group.owner_id;
  patch.id = group.object_id;
  bool any = false;
  for (const auto& queued : group.events) {  // oldest first: the newest value wins
    const core::WebhookEvent& e = queued.event;
    if (e.aspect_type != "update") continue;
    if (e.title) patch.name = *e.title, any = true;
    if (e.type) patch.type = *e.type, any = true;
    if (e.is_private) {
      patch.is_private = *e.is_private, any = true;
      // Strava's `private` is true exactly for only_me activities; when it
      // turns false the visibility (everyone or followers_only) comes with
      // the refresh.
      if (*e.is_private) patch.visibility = "only_me";
    }
    if (e.visibility) patch.visibility = *e.visibility, any = true;
  }
  if (!any) return Ok();
  patch.now_epoch_s = NowS();
  auto applied = ports_.pipeline.PatchActivity(patch);
  if (!applied) return std::unexpected(applied.error());
  if (*applied) {
    Count([](InserterStats& s) { ++s.patched; });
    Signal(group);  // a type change moves the activity between categories now
  }
  return Ok();
}

// Stamped with the fetch's start and fenced one second later: see the
// cross-process guarantee in inserter.h.
void Inserter::Apply(Group& group, Result<core::Activity> fetched, int64_t fetch_start_s) {
  if (!fetched) {
    if (fetched.error().code != ErrorCode::kNotFound) return Fail(group, fetched.error());
    // Gone, or hidden from us (private without read_all): Strava is the
    // source of truth, so the stored copy goes to the archive.
    ports::ArchiveRequest request;
    request.athlete_id = group.owner_id;
    request.ids = {group.object_id};
    request.reason = group.Has("delete") ? "delete webhook confirmed: Strava answers 404"
                                         : "Strava answers 404 after a " + group.Aspects() + " webhook";
    request.now_epoch_s = fetch_start_s;
    request.fence_epoch_s = fetch_start_s + 1;
    int64_t archived = 0;
    Complete(group, [&](std::vector<int64_t> acks) -> Status {
      request.ack_events = std::move(acks);
      auto n = ports_.activities.ArchiveActivities(request);
      if (!n) return std::unexpected(n.error());
      archived = *n;
      if (archived > 0) Signal(group);  // before an external queue's ack: a crash repeats it, never loses it
      return Ok();
    });
    Count([&](InserterStats& s) { s.archived += archived; });
    return;
  }
  core::Activity& activity = *fetched;
  if (activity.athlete_id == 0) activity.athlete_id = group.owner_id;
  if (activity.athlete_id != group.owner_id || activity.id != group.object_id) {
    return Fail(group, Error{ErrorCode::kProtocol, "Strava answered activity " + std::to_string(activity.id) +
                                                       " of athlete " + std::to_string(activity.athlete_id)});
  }
  if (!activity.LocalDate()) {
    // Stored, it would count on no day and no backfill would reconcile it.
    return Fail(group, Error{ErrorCode::kProtocol, "Strava answered activity " + std::to_string(activity.id) +
                                                       " with an unreadable start_date_local"});
  }
  if (auto why = core::ImplausibleAmounts(activity)) {
    return Fail(group, Error{ErrorCode::kProtocol,
                             "Strava answered activity " + std::to_string(activity.id) + " with " + *why});
  }
  if (group.Has("delete")) {
    Log("ignored the delete in " + group.Describe() + ": Strava still has the activity (forged or stale event)");
    Count([](InserterStats& s) { ++s.forged_deletes; });
  }
  ports::UpsertOptions options;
  options.now_epoch_s = fetch_start_s;
  options.fence_epoch_s = fetch_start_s + 1;
  options.from_webhook = true;
  options.require_token = true;  // a deauthorization processed meanwhile wins
  std::optional<ports::UpsertSummary> summary;
  bool deauthorized = false;
  Complete(group, [&](std::vector<int64_t> acks) -> Status {
    options.ack_events = acks;
    auto written = ports_.activities.UpsertActivities(std::span(&activity, 1), options);
    if (!written && written.error().code == ErrorCode::kUnauthorized) {
      // Nothing was written, the acks neither (same transaction).
      if (!acks.empty()) {
        if (Status s = ports_.queue.Ack(acks); !s) return s;  // Complete fails the group: retried
      }
      deauthorized = true;
      return Ok();
    }
    if (!written) return std::unexpected(written.error());
    summary = *written;
    if (written->inserted + written->updated > 0) Signal(group);  // before an external queue's ack
    return Ok();
  });
  if (deauthorized) {
    Log("dropped " + group.Describe() + ": the athlete's token was deleted while the activity was fetched "
        "(deauthorized): not stored");
    Count([&](InserterStats& s) { s.dropped += static_cast<int64_t>(group.events.size()); });
    return;
  }
  if (!summary) return;
  if (summary->fenced > 0) {
    Log("kept the stored " + group.Describe() + ": it was written by a fetch newer than this one (started " +
        IsoUtc(fetch_start_s) + ")");
    Count([](InserterStats& s) { ++s.fenced; });
    return;
  }
  Count([](InserterStats& s) { ++s.upserted; });
}

void Inserter::Signal(const Group& group) {
  if (ports_.signal == nullptr) return;
  if (!options_.store_acks_events) {
    for (const auto& queued : group.events) batch_signals_.push_back(queued.event);
    return;
  }
  std::vector<core::WebhookEvent> applied;
  applied.reserve(group.events.size());
  for (const auto& queued : group.events) applied.push_back(queued.event);
  if (Status s = ports_.signal->Publish(applied); !s) {
    // The store marked the years dirty in the effect's transaction: the
    // aggregators' idle poll finds them.
    Count([](InserterStats& st) { ++st.signal_errors; });
    Log("could not signal the aggregators about " + group.Describe() + ": " + s.error().message);
  }
}

// ---- deauthorization ----

void Inserter::WorkDeauthorization(Group& group) {
  const bool deauthorize =
      std::ranges::any_of(group.events, [](const auto& q) { return q.event.IsDeauthorization(); });
  if (!deauthorize) {
    Log("ignored " + group.Describe() + ": athlete event other than a deauthorization");
    Count([&](InserterStats& s) { s.dropped += static_cast<int64_t>(group.events.size()); });
    return Complete(group, nullptr);
  }
  const int64_t athlete = group.object_id;
  WorkLocks::Guard guard = locks_.LockAthlete(athlete);
  auto token = ports_.tokens.LoadToken(athlete);
  if (!token) return Fail(group, token.error());
  if (!*token) {
    Log("deauthorization of athlete " + std::to_string(athlete) + ": no tokens are stored, nothing to do");
    Count([&](InserterStats& s) { s.dropped += static_cast<int64_t>(group.events.size()); });
    return Complete(group, nullptr);
  }
  if (budget_free_at_ > NowS()) return WaitForBudget(group, budget_free_at_);
  // Unsigned events never destroy data on their word alone: Strava must now
  // refuse the athlete's tokens (the session refreshes once on a 401).
  StravaSession& session = SessionFor(athlete);
  waits_->Reset();
  const int64_t sent_before = session.RequestsSent();
  ports::ListQuery probe_query;
  probe_query.per_page = 1;
  auto probe = session.ListActivities(probe_query);
  Count([&](InserterStats& s) { s.fetches += session.RequestsSent() - sent_before; });
  if (probe) {
    Log("ignored " + group.Describe() + ": Strava still accepts the athlete's token (forged or stale deauthorization)");
    Count([](InserterStats& s) { ++s.forged_deauthorizations; });
    return Complete(group, nullptr);
  }
  if (probe.error().code != ErrorCode::kUnauthorized) return Fail(group, probe.error());
  DropSession(athlete);
  if (options_.on_deauthorize == OnDeauthorize::kDelete) {
    auto removed = ports_.activities.DeleteAthleteData(athlete);
    if (!removed) return Fail(group, removed.error());
    Log("athlete " + std::to_string(athlete) + " deauthorized the application: deleted their tokens and " +
        std::to_string(*removed) + " activities");
  } else {
    if (Status s = ports_.tokens.DeleteToken(athlete); !s) return Fail(group, s.error());
    Log("athlete " + std::to_string(athlete) + " deauthorized the application: deleted their tokens, kept their data");
  }
  Count([](InserterStats& s) { ++s.deauthorized; });
  if (options_.on_deauthorize == OnDeauthorize::kDelete) Signal(group);
  Complete(group, nullptr);
}

// ---- outcomes ----

void Inserter::Complete(Group& group, const std::function<Status(std::vector<int64_t> acks)>& effect) {
  std::vector<int64_t> seqs = group.Seqs();
  Status done;
  if (options_.store_acks_events) {
    done = effect ? effect(std::move(seqs)) : ports_.queue.Ack(seqs);
  } else {
    // External queue: acked with the rest of the batch by FlushBatch, after
    // the batch's signals (a crash in between redelivers: effects are idempotent).
    done = effect ? effect({}) : Status{};
    if (done) batch_acks_.insert(batch_acks_.end(), seqs.begin(), seqs.end());
  }
  if (!done) return Fail(group, done.error());
  group.done = true;
}

void Inserter::Fail(Group& group, const Error& error) {
  const int64_t now = NowS();
  const ErrorCode code = error.code;
  const bool window_wait = waits_->last && waits_->last->first != WaitReason::kBackoff;
  if (code == ErrorCode::kRateLimited || code == ErrorCode::kDailyRateLimited ||
      (code == ErrorCode::kTransient && window_wait)) {
    int64_t until = 0;
    if (window_wait) {
      until = waits_->last->second;
    } else if (code == ErrorCode::kDailyRateLimited) {
      until = options_.windows.DayStart(now) + options_.windows.DayLengthS();
    } else {
      until = options_.windows.WindowStart(now) + options_.windows.WindowLengthS();
    }
    return WaitForBudget(group, until + options_.rate_limit_grace_s);
  }
  const std::string message = WithoutSessionRetryNote(error.message);
  for (const auto& queued : group.events) {
    const bool dead = IsPermanent(code) || queued.attempts >= options_.max_attempts;
    Status s = dead ? ports_.queue.DeadLetter(queued.seq, message, now)
                    : ports_.queue.Retry(queued.seq, message, now + BackoffS(queued.attempts));
    if (!s) {
      // The event comes back after its lease; nothing is lost.
      Count([](InserterStats& st) { ++st.store_errors; });
      Log("could not reschedule event " + std::to_string(queued.seq) + ": " + s.error().message);
      continue;
    }
    Count([&](InserterStats& st) { ++(dead ? st.dead_lettered : st.retried); });
  }
  Log((IsPermanent(code) ? "dead-lettered " : "will retry ") + group.Describe() + ": " + message);
  group.done = true;
}

void Inserter::WaitForBudget(Group& group, int64_t until_epoch_s) {
  budget_free_at_ = std::max(budget_free_at_, until_epoch_s);
  const std::string message = "waiting for the Strava rate budget until " + IsoUtc(budget_free_at_);
  for (const auto& queued : group.events) {
    if (Status s = ports_.queue.Retry(queued.seq, message, budget_free_at_); !s) {
      Count([](InserterStats& st) { ++st.store_errors; });
      continue;
    }
    Count([](InserterStats& st) { ++st.rate_limited; });
  }
  group.done = true;
}

void Inserter::Release(std::span<Group> groups) {
  const int64_t now = NowS();
  for (Group& group : groups) {
    if (group.done) continue;
    for (const auto& queued : group.events) {
      if (ports_.queue.Retry(queued.seq, queued.last_error, now)) Count([](InserterStats& s) { ++s.released; });
    }
    group.done = true;
  }
}

// Retry(seq, same error, now + lease) moves an event's availability forward
// without touching its attempts: it serves as a lease renewal.
void Inserter::RenewLeases(std::span<Group> groups) {
  const int64_t now = NowS();
  if (now - leased_at_ < options_.lease_s / 2) return;
  for (Group& group : groups) {
    if (group.done) continue;
    for (const auto& queued : group.events) {
      if (!ports_.queue.Retry(queued.seq, queued.last_error, now + options_.lease_s))
        Count([](InserterStats& s) { ++s.store_errors; });
    }
  }
  leased_at_ = now;
}

int64_t Inserter::BackoffS(int attempts) const {
  int64_t delay = std::max<int64_t>(options_.base_backoff_s, 1);
  for (int i = 1; i < attempts && delay < options_.max_backoff_s; ++i) delay *= 2;
  return std::min(delay, std::max<int64_t>(options_.max_backoff_s, 1));
}

StravaSession& Inserter::SessionFor(int64_t athlete_id) {
  auto it = sessions_.find(athlete_id);
  if (it != sessions_.end()) return *it->second;
  SessionOptions so;
  so.windows = options_.windows;
  so.window_grace_ms = options_.window_grace_ms;
  so.max_attempts = 1;  // the queue retries, durably
  so.wait_for_daily = false;
  so.athlete_id = athlete_id;
  auto session = std::make_unique<StravaSession>(ports_.api, ports_.tokens, ports_.budget, *session_clock_, so,
                                                 waits_.get());
  return *sessions_.emplace(athlete_id, std::move(session)).first->second;
}

void Inserter::DropSession(int64_t athlete_id) { sessions_.erase(athlete_id); }

}  // namespace dl::app
