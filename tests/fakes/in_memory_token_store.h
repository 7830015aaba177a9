// ports::TokenStore in memory. Records every save in an optional EventLog as
// "SaveToken athlete=<id> access=<token> refresh=<token>" (and
// "SavePendingToken access=.. refresh=..", "ClaimPendingToken athlete=..
// access=.. refresh=..") so tests can check ordering against
// FakeStravaApi's log. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "fakes/event_log.h"
#include "ports/store.h"

namespace dl::fakes {

class InMemoryTokenStore final : public ports::TokenStore {
 public:
  explicit InMemoryTokenStore(EventLog* log = nullptr) : log_(log) {}

  // athlete_id 0: the only stored athlete; kInvalidArgument when several.
  Result<std::optional<ports::StoredToken>> LoadToken(int64_t athlete_id) override;
  Status SaveToken(const ports::StoredToken& token) override;
  Status ReplaceToken(const ports::StoredToken& token) override;
  Status DeleteToken(int64_t athlete_id) override;
  Result<std::vector<int64_t>> AthletesWithTokens() override;
  Status SavePendingToken(const ports::StoredToken& token) override;
  Result<std::optional<ports::StoredToken>> LoadPendingToken() override;
  Status ClaimPendingToken(const ports::StoredToken& token) override;

  // Test controls and observations.
  // The next write (SaveToken, SavePendingToken or ClaimPendingToken) fails.
  void FailNextSave(Error error);
  int saves() const;  // successful writes of every kind
  std::optional<ports::StoredToken> Get(int64_t athlete_id) const;
  std::optional<ports::StoredToken> Pending() const;

 private:
  EventLog* log_;
  mutable std::mutex mu_;
  std::map<int64_t, ports::StoredToken> tokens_;
  std::optional<ports::StoredToken> pending_;
  std::optional<Error> fail_next_save_;
  // Under mu_: the scripted failure, if one is due (logged as "<what> failed").
  Status TakeFailure(const char* what);
  int saves_ = 0;
};

}  // namespace dl::fakes
