// ports::TokenStore in memory. Records every save in an optional EventLog as
// "SaveToken athlete=<id> access=<token> refresh=<token>" so tests can check
// ordering against FakeStravaApi's log. Thread-safe.
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
  Status DeleteToken(int64_t athlete_id) override;
  Result<std::vector<int64_t>> AthletesWithTokens() override;

  // Test controls and observations.
  void FailNextSave(Error error);
  int saves() const;
  std::optional<ports::StoredToken> Get(int64_t athlete_id) const;

 private:
  EventLog* log_;
  mutable std::mutex mu_;
  std::map<int64_t, ports::StoredToken> tokens_;
  std::optional<Error> fail_next_save_;
  int saves_ = 0;
};

}  // namespace dl::fakes
