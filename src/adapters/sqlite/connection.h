// Internal to the SQLite adapter: one sqlite3 connection, a cache of prepared
// statements, RAII queries and transactions. sqlite3.h stays in the .cc.
//
// Threading: a Connection is NOT thread-safe; its owner (SqliteStore)
// serialises every use with a mutex. Several Connections (in one process or
// several) may share one database file; SQLite's file locks and the busy
// timeout arbitrate between them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/result.h"

struct sqlite3;
struct sqlite3_stmt;

// Returns the error of a Status or Result expression from the enclosing
// function (which returns a Status or Result). Internal to this adapter.
#define DL_SQLITE_TRY(expr)                                  \
  do {                                                       \
    if (auto dl_status_ = (expr); !dl_status_) {             \
      return std::unexpected(std::move(dl_status_).error()); \
    }                                                        \
  } while (false)

namespace dl::adapters::sqlite {

class Connection;

// A prepared statement borrowed from the connection's cache for one use:
// bind, step, read; reset and unbound on destruction. Bind errors are kept
// and reported by the next Step() so call sites stay linear.
class Query {
 public:
  Query(Connection* connection, sqlite3_stmt* stmt) : connection_(connection), stmt_(stmt) {}
  Query(Query&& other) noexcept;
  Query& operator=(Query&&) = delete;
  Query(const Query&) = delete;
  ~Query();

  // Parameters are 1-based, as in SQLite.
  void BindNull(int index);
  void Bind(int index, int64_t value);
  void Bind(int index, int value) { Bind(index, static_cast<int64_t>(value)); }
  void Bind(int index, bool value) { Bind(index, static_cast<int64_t>(value ? 1 : 0)); }
  void Bind(int index, double value);
  // Text and blobs are copied (SQLITE_TRANSIENT): temporaries are fine.
  void Bind(int index, std::string_view text);
  void Bind(int index, const std::string& text) { Bind(index, std::string_view(text)); }
  void Bind(int index, const char* text) { Bind(index, std::string_view(text)); }
  void BindBlob(int index, std::string_view bytes);
  // Not copied (SQLITE_STATIC): the bytes must stay valid and unchanged until
  // this Query is destroyed. For the hot path, where the 2 KB of an
  // activity's text would otherwise be copied once more per row.
  void BindTextRef(int index, std::string_view text);
  void BindBlobRef(int index, std::string_view bytes);
  template <class T>
  void Bind(int index, const std::optional<T>& value) {
    if (value)
      Bind(index, *value);
    else
      BindNull(index);
  }

  // true: a row is available; false: done. Errors carry the SQLite message.
  Result<bool> Step();
  // Steps through every row, calling `on_row()` with this query on it. A
  // callback returning Status stops at its first error, which is returned.
  template <class F>
  Status ForEachRow(F&& on_row) {
    for (;;) {
      auto row = Step();
      if (!row) return std::unexpected(row.error());
      if (!*row) return Ok();
      if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
        on_row();
      } else if (Status s = on_row(); !s) {
        return s;
      }
    }
  }
  // Steps a statement that returns no rows.
  Status Run();

  // Columns are 0-based, as in SQLite.
  bool IsNull(int column) const;
  int64_t Int64(int column) const;
  double Double(int column) const;
  std::string Text(int column) const;       // also reads blobs
  std::string_view View(int column) const;  // valid until the next Step()

 private:
  Connection* connection_;
  sqlite3_stmt* stmt_;
  int bind_error_ = 0;
};

// The texts of "<head> VALUES <tuple>, <tuple>, ..." for 1..max_rows rows,
// built once: one statement step for several rows instead of one per row
// (the backfill's new activities and their raw JSON, a rebuilt year's day
// rows). Heads say INSERT OR FAIL, not the default ABORT: with ABORT a
// multi-row insert opens a statement journal (copies of every page it first
// touches) to undo its own earlier rows on a failure; every caller runs in a
// transaction it rolls back on any error, so FAIL's partial rows never
// survive.
class MultiRowInsert {
 public:
  MultiRowInsert(std::string_view head, std::string_view tuple, int max_rows);
  int max_rows() const { return static_cast<int>(sqls_.size()); }
  const char* Sql(int rows) const { return sqls_.at(static_cast<size_t>(rows - 1)).c_str(); }

 private:
  std::vector<std::string> sqls_;  // [k]: k + 1 rows
};

enum class Durability {
  kNormal,  // WAL + synchronous=NORMAL: survives a process crash, may lose the
            // last commits on power loss (the database stays consistent)
  kFull,    // synchronous=FULL: the commit is on disk when Commit() returns
};

// BEGIN IMMEDIATE ... COMMIT; rolls back unless committed. IMMEDIATE takes
// the write lock up front, so a read-then-write transaction never fails with
// SQLITE_BUSY halfway: it waits (busy timeout) before starting instead.
class Transaction {
 public:
  explicit Transaction(Connection* connection) : connection_(connection) {}
  Transaction(Transaction&& other) noexcept : connection_(other.connection_) { other.connection_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  Status Commit();

 private:
  Connection* connection_;
};

struct ConnectionOptions {
  int busy_timeout_ms = 10000;
  int page_size = 16384;  // only for a new file; see sqlite_store.h
  int cache_size_kib = 32768;
};

class BackgroundCheckpointer;

class Connection {
 public:
  // Opens (creating when absent) with owner-only permissions, WAL, foreign
  // keys on, synchronous=NORMAL and the busy timeout.
  static Result<std::unique_ptr<Connection>> Open(const std::string& path, const ConnectionOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one or more statements that return nothing.
  Status Exec(const char* sql);
  // A cached prepared statement. `sql` is the cache key by address: pass
  // string literals or strings that live as long as the connection.
  Result<Query> Prepare(const char* sql);
  Result<Transaction> Begin(Durability durability);
  int64_t Changes() const;
  int64_t LastInsertRowId() const;

  // "sqlite <path>: <what>: <SQLite's message>". Never contains bound values.
  Error MakeError(std::string_view what) const;
  Error MakeError(std::string_view what, int code) const;
  const std::string& path() const { return path_; }
  sqlite3* handle() const { return db_; }

  // Replaces SQLite's autocheckpoint (which copies the WAL into the database
  // file inside the commit that crosses 1000 frames): after a commit that
  // leaves at least `background_frames` frames in the WAL, `checkpointer` is
  // poked and copies them on its own thread and connection while this one
  // goes on writing; at `foreground_frames` this connection checkpoints
  // itself (PASSIVE, as SQLite would), so the WAL stays bounded when the
  // checkpointer cannot keep up. The checkpointer is poked again only once
  // another `background_frames` frames have been written (or the WAL
  // restarted) after a durable (FULL) commit: under a stream of small
  // commits (the webhook intake) the WAL never restarts while it is being
  // written, and poking after every commit kept the checkpointer copying a
  // few pages and syncing the database file twice per commit, against the
  // writer's own fsync (the intake's durable commit took 0.36-0.39 ms instead
  // of 0.21-0.25 ms; docs/PERFORMANCE.md). After a NORMAL commit (bulk
  // writes: backfill pages) it is poked every time, which kept backfill 5-8 %
  // faster (the checkpointer keeps up and the WAL can restart).
  // `checkpointer` must outlive the connection
  // or be detached first (nullptr restores SQLite's autocheckpoint).
  void UseCheckpointer(BackgroundCheckpointer* checkpointer, int background_frames, int foreground_frames);

 private:
  Connection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Status SetDurability(Durability durability);
  static int OnWalCommit(void* self, sqlite3* db, const char* name, int frames);

  sqlite3* db_;
  std::string path_;
  std::unordered_map<const char*, sqlite3_stmt*> statements_;
  std::optional<Durability> durability_;
  BackgroundCheckpointer* checkpointer_ = nullptr;
  int background_frames_ = 0, foreground_frames_ = 0;
  int poked_at_frames_ = 0;  // WAL frames at the last poke (see UseCheckpointer)
  int PokeEveryFrames() const;  // new WAL frames between pokes, by the commit's durability
};

// A thread with a connection of its own that checkpoints the WAL (PASSIVE:
// it never blocks writers or readers, and copies only what no reader still
// needs) each time it is poked. Checkpointing from a second connection is
// what SQLite's WAL design allows; it takes the copying off the writer's
// thread. Its errors are not fatal: the WAL then grows until the next
// checkpoint, foreground or background, succeeds.
class BackgroundCheckpointer {
 public:
  // Opens its connection on `path` (a file; WAL is already on).
  static Result<std::unique_ptr<BackgroundCheckpointer>> Start(const std::string& path,
                                                               const ConnectionOptions& options);
  ~BackgroundCheckpointer();  // finishes a running checkpoint, then stops
  BackgroundCheckpointer(const BackgroundCheckpointer&) = delete;
  BackgroundCheckpointer& operator=(const BackgroundCheckpointer&) = delete;

  void Poke();  // cheap; callable from any thread
  int64_t checkpoints() const;  // completed runs (for tests and benchmarks)

 private:
  struct State;
  explicit BackgroundCheckpointer(std::unique_ptr<Connection> connection);
  void Loop();
  std::unique_ptr<Connection> connection_;
  std::unique_ptr<State> state_;
};

}  // namespace dl::adapters::sqlite
