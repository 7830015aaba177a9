#include "adapters/sqlite/activity_keys.h"

#include <sqlite3.h>

#include <filesystem>

namespace dl::adapters::sqlite {

Result<std::set<ActivityKey>> ReadActivityKeys(const std::string& path) {
  if (!std::filesystem::exists(path)) return Fail(ErrorCode::kInvalidArgument, "no such store file: " + path);
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Fail(ErrorCode::kIo, "cannot open " + path + " read-only: " + msg);
  }
  sqlite3_busy_timeout(db, 10000);
  sqlite3_stmt* st = nullptr;
  rc = sqlite3_prepare_v2(db, "SELECT athlete_id, id FROM activities", -1, &st, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = sqlite3_errmsg(db);
    sqlite3_close(db);
    return Fail(ErrorCode::kInvalidArgument, path + " is not a desirelines store: " + msg);
  }
  std::set<ActivityKey> keys;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    keys.emplace(sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1));
  }
  std::string msg = rc == SQLITE_DONE ? "" : sqlite3_errmsg(db);
  sqlite3_finalize(st);
  sqlite3_close(db);
  if (!msg.empty()) return Fail(ErrorCode::kIo, "reading " + path + ": " + msg);
  return keys;
}

}  // namespace dl::adapters::sqlite
