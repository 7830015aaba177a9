// An in-memory ActivityStore + AggregateStore + PipelineStore for the worker
// tests, with the same contracts as the SQLite store where the workers rely
// on them: daily totals always equal core::SummarizeDays over the stored
// activities (computed on read), every change marks its (athlete, year)s
// dirty, ack_events are completed through the given queue in the same
// critical section as the effect, and failures can be injected.
// Thread-safe (one mutex).
#pragma once

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/aggregates.h"
#include "core/sports.h"
#include "fakes/in_memory_token_store.h"
#include "ports/event_queue.h"
#include "ports/store.h"

namespace dl::testing {

class MemoryPipelineStore final : public ports::ActivityStore,
                                  public ports::AggregateStore,
                                  public ports::PipelineStore {
 public:
  // `queue` completes ack_events (may be null: acks refused); `tokens` is
  // emptied for an athlete by DeleteAthleteData (may be null).
  MemoryPipelineStore(const core::SportCategories& categories, ports::EventQueue* queue,
                      fakes::InMemoryTokenStore* tokens)
      : categories_(categories), queue_(queue), tokens_(tokens) {}

  // ---- ActivityStore ----
  Result<ports::UpsertSummary> UpsertActivities(std::span<const core::Activity> activities,
                                                const ports::UpsertOptions& options) override {
    std::lock_guard lock(mu_);
    if (auto e = TakeFailure()) return std::unexpected(*e);
    if (options.require_token && tokens_ != nullptr) {  // as the real stores (contract test)
      for (const auto& a : activities) {
        auto token = tokens_->LoadToken(a.athlete_id);
        if (!token || !*token) return std::unexpected(ports::NoStoredToken(a.athlete_id, "not written"));
      }
    }
    ports::UpsertSummary summary;
    for (const auto& a : activities) {
      auto key = std::make_pair(a.athlete_id, a.id);
      auto it = rows_.find(key);
      if (it != rows_.end() && it->second == a) {
        ++summary.unchanged;
        continue;
      }
      if (it != rows_.end()) MarkLocked(it->second);
      (it == rows_.end() ? summary.inserted : summary.updated)++;
      rows_[key] = a;
      MarkLocked(a);
    }
    if (auto s = AckLocked(options.ack_events); !s) return std::unexpected(s.error());
    ++upserts_;
    return summary;
  }
  Result<std::optional<core::Activity>> GetActivity(int64_t athlete_id, int64_t id) override {
    std::lock_guard lock(mu_);
    auto it = rows_.find({athlete_id, id});
    if (it == rows_.end()) return std::optional<core::Activity>();
    return std::optional(it->second);
  }
  Result<std::vector<core::Activity>> ActivitiesInLocalYear(int64_t athlete_id, int year) override {
    std::lock_guard lock(mu_);
    std::vector<core::Activity> out;
    for (const auto& [key, a] : rows_) {
      auto d = a.LocalDate();
      if (key.first == athlete_id && d && static_cast<int>(d->year()) == year) out.push_back(a);
    }
    return out;
  }
  Result<std::vector<int64_t>> UnseenInLocalYear(int64_t, int, int64_t) override {
    return std::vector<int64_t>{};
  }
  Result<int64_t> ArchiveActivities(const ports::ArchiveRequest& request) override {
    std::lock_guard lock(mu_);
    if (auto e = TakeFailure()) return std::unexpected(*e);
    int64_t n = 0;
    for (int64_t id : request.ids) {
      auto it = rows_.find({request.athlete_id, id});
      if (it == rows_.end()) continue;
      MarkLocked(it->second);
      archive_.push_back({it->second, request.reason});
      rows_.erase(it);
      ++n;
    }
    if (auto s = AckLocked(request.ack_events); !s) return std::unexpected(s.error());
    return n;
  }
  Result<int64_t> DeleteAthleteData(int64_t athlete_id) override {
    std::lock_guard lock(mu_);
    if (auto e = TakeFailure()) return std::unexpected(*e);
    int64_t n = 0;
    for (auto it = rows_.begin(); it != rows_.end();) {
      if (it->first.first != athlete_id) {
        ++it;
        continue;
      }
      MarkLocked(it->second);
      it = rows_.erase(it);
      ++n;
    }
    std::erase_if(archive_, [&](const auto& entry) { return entry.first.athlete_id == athlete_id; });
    if (tokens_ != nullptr) (void)tokens_->DeleteToken(athlete_id);
    return n;
  }

  // ---- AggregateStore ----
  Result<std::vector<core::DailyTotals>> DailyForYear(int64_t athlete_id, int year,
                                                      const std::string& category) override {
    std::lock_guard lock(mu_);
    std::vector<core::Activity> mine;
    for (const auto& [key, a] : rows_)
      if (key.first == athlete_id) mine.push_back(a);
    std::vector<core::DailyTotals> out;
    for (auto& d : core::SummarizeDays(mine, categories_)) {
      if (static_cast<int>(d.date.year()) != year) continue;
      if (!category.empty() && d.category != category) continue;
      out.push_back(std::move(d));
    }
    return out;
  }
  Result<std::vector<std::pair<int, std::string>>> YearsWithData(int64_t athlete_id) override {
    std::lock_guard lock(mu_);
    std::set<std::pair<int, std::string>> out;
    for (const auto& [key, a] : rows_) {
      auto d = a.LocalDate();
      if (key.first == athlete_id && d) out.insert({static_cast<int>(d->year()), categories_.Categorize(a)});
    }
    return std::vector<std::pair<int, std::string>>(out.begin(), out.end());
  }
  Status RebuildYear(int64_t, int) override { return Ok(); }

  // ---- PipelineStore ----
  Result<bool> PatchActivity(const ports::ActivityPatch& patch) override {
    std::lock_guard lock(mu_);
    if (auto e = TakeFailure()) return std::unexpected(*e);
    auto it = rows_.find({patch.athlete_id, patch.id});
    if (it != rows_.end()) {
      core::Activity& a = it->second;
      if (patch.name) a.name = *patch.name;
      if (patch.type) a.type = a.sport_type = *patch.type;
      if (patch.is_private) a.is_private = *patch.is_private;
      if (patch.visibility) a.visibility = *patch.visibility;
      MarkLocked(a);
      ++patches_;
    }
    if (auto s = AckLocked(patch.ack_events); !s) return std::unexpected(s.error());
    return it != rows_.end();
  }
  Result<std::vector<ports::DirtyYear>> ClaimDirtyYears(int max, int64_t now_epoch_s, int64_t lease_s) override {
    std::lock_guard lock(mu_);
    std::vector<ports::DirtyYear> out;
    for (auto& [key, mark] : dirty_) {
      if (static_cast<int>(out.size()) >= max) break;
      if (mark.claimed_until > now_epoch_s) continue;
      mark.claimed_until = now_epoch_s + lease_s;
      out.push_back({key.first, key.second, mark.generation});
    }
    return out;
  }
  Status CompleteDirtyYears(std::span<const ports::DirtyYear> years) override {
    std::lock_guard lock(mu_);
    for (const auto& y : years) {
      auto it = dirty_.find({y.athlete_id, y.year});
      if (it == dirty_.end()) continue;
      if (it->second.generation == y.generation) {
        dirty_.erase(it);
      } else {
        it->second.claimed_until = 0;
      }
    }
    return Ok();
  }

  // ---- test controls and observations ----
  void FailNext(Error e, int times = 1) {
    std::lock_guard lock(mu_);
    failure_ = std::move(e);
    failures_left_ = times;
  }
  void Put(const core::Activity& a) {
    std::lock_guard lock(mu_);
    rows_[{a.athlete_id, a.id}] = a;
    MarkLocked(a);
  }
  std::vector<core::Activity> All() const {
    std::lock_guard lock(mu_);
    std::vector<core::Activity> out;
    for (const auto& [key, a] : rows_) out.push_back(a);
    return out;
  }
  std::vector<std::pair<core::Activity, std::string>> Archive() const {
    std::lock_guard lock(mu_);
    return archive_;
  }
  size_t DirtyCount() const {
    std::lock_guard lock(mu_);
    return dirty_.size();
  }
  int upserts() const {
    std::lock_guard lock(mu_);
    return upserts_;
  }
  int patches() const {
    std::lock_guard lock(mu_);
    return patches_;
  }

 private:
  struct Mark {
    int64_t generation = 0;
    int64_t claimed_until = 0;
  };
  std::optional<Error> TakeFailure() {
    if (!failure_ || failures_left_ == 0) return std::nullopt;
    if (--failures_left_ == 0) {
      Error e = *failure_;
      failure_.reset();
      return e;
    }
    return failure_;
  }
  void MarkLocked(const core::Activity& a) {
    auto d = a.LocalDate();
    if (!d) return;
    dirty_[{a.athlete_id, static_cast<int>(d->year())}].generation = ++generation_;
  }
  Status AckLocked(const std::vector<int64_t>& seqs) {
    if (seqs.empty()) return Ok();
    if (queue_ == nullptr) return Fail(ErrorCode::kInternal, "this store has no queue to ack");
    return queue_->Ack(seqs);
  }

  const core::SportCategories& categories_;
  ports::EventQueue* queue_;
  fakes::InMemoryTokenStore* tokens_;
  mutable std::mutex mu_;
  std::map<std::pair<int64_t, int64_t>, core::Activity> rows_;
  std::vector<std::pair<core::Activity, std::string>> archive_;
  std::map<std::pair<int64_t, int>, Mark> dirty_;
  int64_t generation_ = 0;
  std::optional<Error> failure_;
  int failures_left_ = 0;
  int upserts_ = 0;
  int patches_ = 0;
};

}  // namespace dl::testing
