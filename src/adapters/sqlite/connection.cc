#include "adapters/sqlite/connection.h"

#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>

namespace dl::adapters::sqlite {
namespace {

// umask is process-wide: while it is set, files other threads create are
// owner-only too. That errs on the safe side and lasts only for the open.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(old_); }
  ScopedUmask(const ScopedUmask&) = delete;
  ScopedUmask& operator=(const ScopedUmask&) = delete;

 private:
  mode_t old_;
};

bool IsPlainFile(const std::string& path) { return !path.empty() && path != ":memory:" && !path.starts_with("file:"); }

// Tightens an existing database (and its WAL files) to 0600: tokens live in
// it. SQLite creates -wal and -shm with the database file's mode, so they
// follow the main file from then on.
Status RestrictToOwner(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const std::string file = path + suffix;
    if (::chmod(file.c_str(), S_IRUSR | S_IWUSR) != 0 && errno != ENOENT) {
      return Fail(ErrorCode::kIo,
                  "sqlite " + path + ": cannot restrict " + file + " to its owner: " + std::strerror(errno));
    }
  }
  return Ok();
}

}  // namespace

Query::Query(Query&& other) noexcept
    : connection_(other.connection_), stmt_(other.stmt_), bind_error_(other.bind_error_) {
  other.stmt_ = nullptr;
}

Query::~Query() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

void Query::BindNull(int index) {
  if (int rc = sqlite3_bind_null(stmt_, index); rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
}

void Query::Bind(int index, int64_t value) {
  if (int rc = sqlite3_bind_int64(stmt_, index, value); rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
}

void Query::Bind(int index, double value) {
  if (int rc = sqlite3_bind_double(stmt_, index, value); rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
}

// SQLITE_TRANSIENT copies: callers may pass temporaries without care.
void Query::Bind(int index, std::string_view text) {
  int rc = sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
}

void Query::BindBlob(int index, std::string_view bytes) {
  int rc = sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
}

void Query::BindTextRef(int index, std::string_view text) {
  int rc = sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8);
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
}

void Query::BindBlobRef(int index, std::string_view bytes) {
  int rc = sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_STATIC);
  if (rc != SQLITE_OK && bind_error_ == 0) bind_error_ = rc;
}

Result<bool> Query::Step() {
  if (bind_error_ != 0) return std::unexpected(connection_->MakeError("binding parameters", bind_error_));
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  // The SQL text names what failed; it holds placeholders, never values.
  std::string sql = sqlite3_sql(stmt_) != nullptr ? sqlite3_sql(stmt_) : "";
  if (sql.size() > 60) sql = sql.substr(0, 60) + "...";
  return std::unexpected(connection_->MakeError("executing \"" + sql + "\"", rc));
}

Status Query::Run() {
  auto row = Step();
  if (!row) return std::unexpected(row.error());
  return Ok();
}

bool Query::IsNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
int64_t Query::Int64(int column) const { return sqlite3_column_int64(stmt_, column); }
double Query::Double(int column) const { return sqlite3_column_double(stmt_, column); }

std::string_view Query::View(int column) const {
  const void* data = sqlite3_column_blob(stmt_, column);
  const int size = sqlite3_column_bytes(stmt_, column);
  if (data == nullptr || size <= 0) return {};
  return {static_cast<const char*>(data), static_cast<size_t>(size)};
}

std::string Query::Text(int column) const { return std::string(View(column)); }

Transaction::~Transaction() {
  // After some errors (e.g. SQLITE_FULL) SQLite has already rolled back.
  if (connection_ != nullptr && sqlite3_get_autocommit(connection_->handle()) == 0) {
    sqlite3_exec(connection_->handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

Status Transaction::Commit() {
  if (connection_ == nullptr) return Fail(ErrorCode::kInternal, "sqlite: commit of a finished transaction");
  if (auto s = connection_->Exec("COMMIT"); !s) return s;
  connection_ = nullptr;
  return Ok();
}

Result<std::unique_ptr<Connection>> Connection::Open(const std::string& path, const ConnectionOptions& options) {
  std::unique_ptr<Connection> connection;
  {
    ScopedUmask owner_only(S_IRWXG | S_IRWXO);
    sqlite3* db = nullptr;
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
    if (rc != SQLITE_OK) {
      std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
      sqlite3_close(db);
      return Fail(ErrorCode::kIo, "sqlite " + path + ": cannot open: " + message);
    }
    connection.reset(new Connection(db, path));
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, options.busy_timeout_ms);
    // page_size only takes effect before the file's first write; switching to
    // WAL writes the header, so it goes first. Both create the files here,
    // under the owner-only umask.
    const std::string page = "PRAGMA page_size=" + std::to_string(options.page_size);
    if (auto s = connection->Exec(page.c_str()); !s) return std::unexpected(s.error());
    if (auto s = connection->Exec("PRAGMA journal_mode=WAL"); !s) return std::unexpected(s.error());
  }
  if (IsPlainFile(path)) {
    if (auto s = RestrictToOwner(path); !s) return std::unexpected(s.error());
  }
  const std::string pragmas =
      "PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY; "
      "PRAGMA cache_size=-" +
      std::to_string(options.cache_size_kib) + ";";
  if (auto s = connection->Exec(pragmas.c_str()); !s) return std::unexpected(s.error());
  connection->durability_ = Durability::kNormal;
  return connection;
}

Connection::~Connection() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

Status Connection::Exec(const char* sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return Ok();
  std::string text = message != nullptr ? message : sqlite3_errstr(rc);
  sqlite3_free(message);
  std::string what(sql);
  if (what.size() > 60) what = what.substr(0, 60) + "...";
  return Fail(ErrorCode::kIo, "sqlite " + path_ + ": " + what + ": " + text);
}

Result<Query> Connection::Prepare(const char* sql) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    sqlite3_stmt* stmt = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return std::unexpected(MakeError("preparing a statement", rc));
    it = statements_.emplace(sql, stmt).first;
  }
  return Query(this, it->second);
}

Status Connection::SetDurability(Durability durability) {
  if (durability_ == durability) return Ok();
  const char* sql = durability == Durability::kFull ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
  if (auto s = Exec(sql); !s) return s;
  durability_ = durability;
  return Ok();
}

Result<Transaction> Connection::Begin(Durability durability) {
  if (auto s = SetDurability(durability); !s) return std::unexpected(s.error());
  if (auto s = Exec("BEGIN IMMEDIATE"); !s) return std::unexpected(s.error());
  return Transaction(this);
}

int Connection::PokeEveryFrames() const {
  // Durable (FULL) commits: the intake's small fsynced commits; NORMAL: bulk
  // writes (backfill), where a checkpointer kept busy lets the WAL restart.
  return durability_ == Durability::kFull ? background_frames_ : 1;
}

void Connection::UseCheckpointer(BackgroundCheckpointer* checkpointer, int background_frames, int foreground_frames) {
  checkpointer_ = checkpointer;
  poked_at_frames_ = 0;
  background_frames_ = background_frames;
  foreground_frames_ = foreground_frames;
  if (checkpointer == nullptr) {
    sqlite3_wal_autocheckpoint(db_, 1000);  // SQLite's default
  } else {
    sqlite3_wal_hook(db_, &Connection::OnWalCommit, this);
  }
}

// Runs inside the commit, on the committing thread, after the WAL frames are
// written and the write lock released.
int Connection::OnWalCommit(void* self, sqlite3* db, const char* name, int frames) {
  auto* c = static_cast<Connection*>(self);
  if (frames < c->poked_at_frames_) c->poked_at_frames_ = 0;  // the WAL restarted
  if (frames >= c->foreground_frames_) {
    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  } else if (frames >= c->background_frames_ && frames - c->poked_at_frames_ >= c->PokeEveryFrames()) {
    c->poked_at_frames_ = frames;
    c->checkpointer_->Poke();
  }
  return SQLITE_OK;
}

struct BackgroundCheckpointer::State {
  std::mutex mu;
  std::condition_variable cv;
  bool poked = false;    // guarded by mu
  bool stopping = false;  // guarded by mu
  int64_t checkpoints = 0;  // guarded by mu
  std::thread thread;
};

Result<std::unique_ptr<BackgroundCheckpointer>> BackgroundCheckpointer::Start(const std::string& path,
                                                                             const ConnectionOptions& options) {
  auto connection = Connection::Open(path, options);
  if (!connection) return std::unexpected(connection.error());
  // Its own commits (none) must not checkpoint; it checkpoints when poked.
  sqlite3_wal_autocheckpoint((*connection)->handle(), 0);
  std::unique_ptr<BackgroundCheckpointer> checkpointer(new BackgroundCheckpointer(std::move(*connection)));
  checkpointer->state_->thread = std::thread([raw = checkpointer.get()] {
    pthread_setname_np(pthread_self(), "dl-checkpoint");  // in top, perf and gdb
    raw->Loop();
  });
  return checkpointer;
}

BackgroundCheckpointer::BackgroundCheckpointer(std::unique_ptr<Connection> connection)
    : connection_(std::move(connection)), state_(std::make_unique<State>()) {}

BackgroundCheckpointer::~BackgroundCheckpointer() {
  {
    std::lock_guard lock(state_->mu);
    state_->stopping = true;
  }
  state_->cv.notify_all();
  if (state_->thread.joinable()) state_->thread.join();
}

void BackgroundCheckpointer::Poke() {
  {
    std::lock_guard lock(state_->mu);
    state_->poked = true;
  }
  state_->cv.notify_one();
}

int64_t BackgroundCheckpointer::checkpoints() const {
  std::lock_guard lock(state_->mu);
  return state_->checkpoints;
}

void BackgroundCheckpointer::Loop() {
  std::unique_lock lock(state_->mu);
  for (;;) {
    state_->cv.wait(lock, [&] { return state_->poked || state_->stopping; });
    if (state_->stopping) return;
    state_->poked = false;
    lock.unlock();
    // Busy (another checkpoint running) or a failure: the next poke retries.
    const int rc =
        sqlite3_wal_checkpoint_v2(connection_->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    lock.lock();
    if (rc == SQLITE_OK) ++state_->checkpoints;
  }
}

int64_t Connection::Changes() const { return sqlite3_changes64(db_); }

int64_t Connection::LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }

Error Connection::MakeError(std::string_view what) const {
  return Error{ErrorCode::kIo, "sqlite " + path_ + ": " + std::string(what) + ": " + sqlite3_errmsg(db_)};
}

Error Connection::MakeError(std::string_view what, int code) const {
  // sqlite3_errmsg describes the most recent failure on this connection,
  // which is the one `code` came from; errstr covers codes set without it.
  std::string message = sqlite3_errcode(db_) == code ? sqlite3_errmsg(db_) : sqlite3_errstr(code);
  return Error{ErrorCode::kIo, "sqlite " + path_ + ": " + std::string(what) + ": " + message};
}

MultiRowInsert::MultiRowInsert(std::string_view head, std::string_view tuple, int max_rows) {
  std::string sql = std::string(head) + " VALUES " + std::string(tuple);
  for (int rows = 1; rows <= max_rows; ++rows) {
    if (rows > 1) sql += ", " + std::string(tuple);
    sqls_.push_back(sql);
  }
}

}  // namespace dl::adapters::sqlite
