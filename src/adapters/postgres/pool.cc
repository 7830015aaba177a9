#include "adapters/postgres/pool.h"

#include <chrono>
#include <random>
#include <string>
#include <thread>

namespace dl::adapters::postgres {
namespace {

bool Retryable(const std::string& sqlstate) {
  return sqlstate == "40P01" || sqlstate == "40001" || sqlstate == "23505";
}

// A short random pause before a retry, so that two transactions that just
// deadlocked do not collide again in lock step (not a synchronisation sleep:
// the retry does not depend on it).
void Backoff(int attempt) {
  thread_local std::minstd_rand rng(std::random_device{}());
  const int max_us = 200 << std::min(attempt, 6);
  std::this_thread::sleep_for(std::chrono::microseconds(rng() % static_cast<unsigned>(max_us)));
}

}  // namespace

ConnectionPool::ConnectionPool(ConnTarget target, int max_size, int connect_timeout_s)
    : target_(std::move(target)), max_size_(std::max(1, max_size)), connect_timeout_s_(connect_timeout_s) {}

ConnectionPool::~ConnectionPool() = default;

ConnectionPool::Lease::Lease(ConnectionPool* pool, std::unique_ptr<Connection> connection)
    : pool_(pool), connection_(std::move(connection)) {}

ConnectionPool::Lease::~Lease() {
  if (connection_) pool_->Release(std::move(connection_));
}

Result<ConnectionPool::Lease> ConnectionPool::Acquire() {
  {
    std::unique_lock lock(mu_);
    available_.wait(lock, [&] { return !idle_.empty() || open_ < max_size_; });
    if (!idle_.empty()) {
      auto connection = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(connection));
    }
    ++open_;  // reserve the slot, then connect without holding the lock
  }
  auto connection = Connection::Open(target_, connect_timeout_s_);
  if (!connection) {
    std::lock_guard lock(mu_);
    --open_;
    available_.notify_one();
    return std::unexpected(connection.error());
  }
  return Lease(this, std::move(*connection));
}

void ConnectionPool::Release(std::unique_ptr<Connection> connection) {
  std::lock_guard lock(mu_);
  if (connection->Healthy()) {
    idle_.push_back(std::move(connection));
  } else {
    --open_;  // closed; the next Acquire opens a fresh one
  }
  available_.notify_one();
}

Status InTransaction(ConnectionPool& pool, Durability durability, const std::function<Status(Connection&)>& body) {
  const char* begin = durability == Durability::kRelaxed ? "BEGIN; SET LOCAL synchronous_commit = off" : "BEGIN";
  for (int attempt = 1;; ++attempt) {
    auto lease = pool.Acquire();
    if (!lease) return std::unexpected(lease.error());
    Connection& c = **lease;
    bool committing = false;
    Status result = c.Run(begin);
    if (result) result = body(c);
    if (result) {
      committing = true;
      result = c.Run("COMMIT");
    }
    if (result) return result;
    const bool lost = !c.Healthy();
    if (lost && committing) {
      return Fail(result.error().code, result.error().message +
                                           " (the connection was lost during COMMIT: the change may or may not "
                                           "have been applied)");
    }
    // Lost before COMMIT: the server rolled the transaction back, so running
    // it again on a fresh connection is safe (the dead one leaves the pool).
    const bool retry = attempt < kMaxAttempts && (lost || Retryable(c.last_sqlstate()));
    if (!lost) (void)c.Run("ROLLBACK");
    if (!retry) return result;
    if (!lost) Backoff(attempt);
  }
}

Status WithConnection(ConnectionPool& pool, const std::function<Status(Connection&)>& body) {
  for (int attempt = 1;; ++attempt) {
    auto lease = pool.Acquire();
    if (!lease) return std::unexpected(lease.error());
    Status result = body(**lease);
    // A read on a connection that turned out dead runs again on a fresh one.
    if (result || (*lease)->Healthy() || attempt == 2) return result;
  }
}

}  // namespace dl::adapters::postgres
