// ports::RateBudgetStore in memory: one shared budget row. Share one
// instance between several sessions to model several processes on one
// store. Thread-safe.
#pragma once

#include <functional>
#include <mutex>
#include <optional>

#include "core/rate_budget.h"
#include "ports/store.h"

namespace dl::fakes {

class InMemoryRateBudgetStore final : public ports::RateBudgetStore {
 public:
  Result<core::RateBudgetState> UpdateRateBudget(
      const std::function<void(core::RateBudgetState&)>& change) override {
    std::lock_guard lock(mu_);
    if (fail_next_) {
      Error e = std::move(*fail_next_);
      fail_next_.reset();
      return std::unexpected(std::move(e));
    }
    change(state_);
    ++updates_;
    return state_;
  }

  core::RateBudgetState state() const {
    std::lock_guard lock(mu_);
    return state_;
  }
  void set_state(const core::RateBudgetState& s) {
    std::lock_guard lock(mu_);
    state_ = s;
  }
  void FailNext(Error e) {
    std::lock_guard lock(mu_);
    fail_next_ = std::move(e);
  }
  int updates() const {
    std::lock_guard lock(mu_);
    return updates_;
  }

 private:
  mutable std::mutex mu_;
  core::RateBudgetState state_;
  std::optional<Error> fail_next_;
  int updates_ = 0;
};

}  // namespace dl::fakes
