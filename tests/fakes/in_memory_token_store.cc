#include "fakes/in_memory_token_store.h"

#include <string>

namespace dl::fakes {

Result<std::optional<ports::StoredToken>> InMemoryTokenStore::LoadToken(int64_t athlete_id) {
  std::lock_guard lock(mu_);
  if (athlete_id == 0) {
    if (tokens_.size() > 1)
      return Fail(ErrorCode::kInvalidArgument, "several athletes have tokens; name one");
    if (tokens_.empty()) return std::optional<ports::StoredToken>();
    return std::optional(tokens_.begin()->second);
  }
  auto it = tokens_.find(athlete_id);
  if (it == tokens_.end()) return std::optional<ports::StoredToken>();
  return std::optional(it->second);
}

Status InMemoryTokenStore::SaveToken(const ports::StoredToken& token) {
  std::lock_guard lock(mu_);
  if (fail_next_save_) {
    Error e = std::move(*fail_next_save_);
    fail_next_save_.reset();
    if (log_) log_->Add("SaveToken failed");
    return std::unexpected(std::move(e));
  }
  tokens_[token.athlete_id] = token;
  ++saves_;
  if (log_)
    log_->Add("SaveToken athlete=" + std::to_string(token.athlete_id) + " access=" + token.access_token +
              " refresh=" + token.refresh_token);
  return Ok();
}

Status InMemoryTokenStore::DeleteToken(int64_t athlete_id) {
  std::lock_guard lock(mu_);
  tokens_.erase(athlete_id);
  return Ok();
}

Result<std::vector<int64_t>> InMemoryTokenStore::AthletesWithTokens() {
  std::lock_guard lock(mu_);
  std::vector<int64_t> ids;
  for (const auto& [id, token] : tokens_) ids.push_back(id);
  return ids;
}

void InMemoryTokenStore::FailNextSave(Error error) {
  std::lock_guard lock(mu_);
  fail_next_save_ = std::move(error);
}

int InMemoryTokenStore::saves() const {
  std::lock_guard lock(mu_);
  return saves_;
}

std::optional<ports::StoredToken> InMemoryTokenStore::Get(int64_t athlete_id) const {
  std::lock_guard lock(mu_);
  auto it = tokens_.find(athlete_id);
  if (it == tokens_.end()) return std::nullopt;
  return it->second;
}

}  // namespace dl::fakes
