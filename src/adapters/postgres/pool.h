// Internal to the PostgreSQL adapter: a bounded pool of connections shared
// by the threads of one PostgresStore, and the transaction runner every
// port method goes through.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "adapters/postgres/connection.h"
#include "core/result.h"

namespace dl::adapters::postgres {

// Thread-safe. Connections are opened lazily, up to max_size; a caller that
// finds all of them in use waits for one to come back. A connection that
// lost its server is closed instead of being returned.
class ConnectionPool {
 public:
  ConnectionPool(ConnTarget target, int max_size, int connect_timeout_s);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // A connection held for the lease's lifetime.
  class Lease {
   public:
    Lease(ConnectionPool* pool, std::unique_ptr<Connection> connection);
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Connection& operator*() const { return *connection_; }
    Connection* operator->() const { return connection_.get(); }

   private:
    ConnectionPool* pool_;
    std::unique_ptr<Connection> connection_;
  };

  Result<Lease> Acquire();
  const ConnTarget& target() const { return target_; }

 private:
  void Release(std::unique_ptr<Connection> connection);

  const ConnTarget target_;
  const int max_size_;
  const int connect_timeout_s_;
  std::mutex mu_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Connection>> idle_;  // guarded by mu_
  int open_ = 0;                                   // idle + leased + being opened; guarded by mu_
};

// How a transaction's commit waits for the disk (see PostgresStore).
enum class Durability {
  kFull,     // synchronous_commit on: on disk when the call returns
  kRelaxed,  // synchronous_commit off: a server crash may lose the last commits, never consistency
};

// Runs `body` in one READ COMMITTED transaction on a pooled connection and
// commits. When a statement fails with a deadlock, a serialization failure
// or a unique-key race (SQLSTATE 40P01, 40001, 23505), or the connection
// turns out dead before COMMIT (e.g. a pooled connection whose server
// restarted), the transaction is rolled back and `body` runs again on a
// working connection (at most kMaxAttempts times), so a body must compute
// everything from what it reads inside the transaction. A connection lost
// during COMMIT is reported (kIo), never retried: the outcome is unknown.
inline constexpr int kMaxAttempts = 8;
Status InTransaction(ConnectionPool& pool, Durability durability, const std::function<Status(Connection&)>& body);

// Reads outside an explicit transaction; run once more on a fresh
// connection when the first one turns out dead.
Status WithConnection(ConnectionPool& pool, const std::function<Status(Connection&)>& body);

}  // namespace dl::adapters::postgres
