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

Status InMemoryTokenStore::TakeFailure(const char* what) {
  if (!fail_next_save_) return Ok();
  Error e = std::move(*fail_next_save_);
  fail_next_save_.reset();
  if (log_) log_->Add(std::string(what) + " failed");
  return std::unexpected(std::move(e));
}

Status InMemoryTokenStore::SaveToken(const ports::StoredToken& token) {
  std::lock_guard lock(mu_);
  if (Status s = TakeFailure("SaveToken"); !s) return s;
  tokens_[token.athlete_id] = token;
  ++saves_;
  if (log_)
    log_->Add("SaveToken athlete=" + std::to_string(token.athlete_id) + " access=" + token.access_token +
              " refresh=" + token.refresh_token);
  return Ok();
}

Status InMemoryTokenStore::ReplaceToken(const ports::StoredToken& token) {
  {
    std::lock_guard lock(mu_);
    if (!tokens_.contains(token.athlete_id)) {
      return std::unexpected(ports::NoStoredToken(token.athlete_id, "the refreshed token was not saved"));
    }
  }
  return SaveToken(token);  // logged and counted as a save
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

Status InMemoryTokenStore::SavePendingToken(const ports::StoredToken& token) {
  std::lock_guard lock(mu_);
  if (Status s = TakeFailure("SavePendingToken"); !s) return s;
  pending_ = token;
  pending_->athlete_id = 0;
  ++saves_;
  if (log_) log_->Add("SavePendingToken access=" + token.access_token + " refresh=" + token.refresh_token);
  return Ok();
}

Result<std::optional<ports::StoredToken>> InMemoryTokenStore::LoadPendingToken() {
  std::lock_guard lock(mu_);
  return pending_;
}

Status InMemoryTokenStore::ClaimPendingToken(const ports::StoredToken& token) {
  std::lock_guard lock(mu_);
  if (token.athlete_id <= 0) return Fail(ErrorCode::kInvalidArgument, "athlete id must be positive");
  if (Status s = TakeFailure("ClaimPendingToken"); !s) return s;
  tokens_[token.athlete_id] = token;
  pending_.reset();
  ++saves_;
  if (log_)
    log_->Add("ClaimPendingToken athlete=" + std::to_string(token.athlete_id) + " access=" + token.access_token +
              " refresh=" + token.refresh_token);
  return Ok();
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

std::optional<ports::StoredToken> InMemoryTokenStore::Pending() const {
  std::lock_guard lock(mu_);
  return pending_;
}

}  // namespace dl::fakes
