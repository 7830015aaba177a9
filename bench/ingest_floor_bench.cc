// The floor of the backfill's ingest on this machine: the work issue 3 requires
// of every activity, done by the leanest program we can write, to measure how
// fast ANY design could go here with the same libraries (issue 3's target is
// 100,000 activities/s end to end with the raw JSON kept).
//
// It does, as the real backfill does, on two threads plus a checkpointer:
//   fetching thread: list the widened UTC range of the years from strava-sim
//     with per_page=200 and the `after` cursor (libcurl, one kept-alive
//     connection, one reused body buffer), parse each page with our
//     ActivityParser (simdjson, into recycled vectors), encode each raw JSON
//     with our compact codec (the polyline cut + zstd -1 and its dictionary),
//     and compute each row's local date, category and start epoch;
//   writer thread: one transaction per page into the real schema (created by
//     SqliteStore's migrations), typed rows and raw rows 16 per INSERT, WAL,
//     synchronous=NORMAL, 16 KiB pages, a 4 MiB cache;
//   checkpointer thread: PASSIVE checkpoints on its own connection after
//     each commit, as the store's background checkpointer does;
// then, per year, the daily sums by SQL and the two legacy files of the
// default category, written to temporaries, fsynced and renamed.
//
// What it leaves out, so that its rate is an upper bound for the real
// command: no rate budget, no token store, no resumable checkpoint row, no
// de-duplication, no prior-state lookup (inserted / updated / unchanged), no
// content hash, no fencing, no reconciliation of deletions, no daily_totals
// rows, no richer per-category files, no error handling beyond stopping.
//
// Usage: ingest_floor_bench --api URL --oauth URL --years FIRST-LAST --dir DIR [variants]
// Variants, to try other designs on the same work:
//   --raw zstd|text|lz4|none  the raw JSON: our compact codec (default); as
//                             received; LZ4 with the codec's dictionary (no
//                             polyline cut); not stored (invalid: for scale)
//   --raw-inline 1            the raw JSON in a column of the activities row
//                             instead of its own table (one B-tree fewer)
//   --index-after 1           the local-date index dropped for the ingest and
//                             built after it (a bulk load's classic)
// (bench/ingest_floor.sh runs it interleaved with `desirelines backfill`).
#include <curl/curl.h>
#if DL_FLOOR_LZ4
#define LZ4_STATIC_LINKING_ONLY
#include <lz4.h>
#endif
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "adapters/activity_column_list.h"
#include "adapters/sqlite/raw_codec.h"
#include "adapters/sqlite/sqlite_store.h"
#include "adapters/strava_http/strava_json.h"
#include "core/activity.h"
#include "core/sports.h"
#include "core/time.h"

namespace {

struct Variant {
  std::string raw = "zstd";
  bool raw_inline = false;
  bool index_after = false;
} g_variant;

using dl::core::Activity;
namespace sq = dl::adapters::sqlite;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "ingest_floor_bench: %s\n", what.c_str());
  std::exit(1);
}

struct Row {  // what the fetching thread adds to an activity for the writer
  std::string raw;
  int codec = 0;
  std::string category;
  std::string local_date;
  int64_t start_epoch_s = 0;
};

struct Page {
  std::vector<Activity> activities;
  std::vector<Row> rows;
  size_t size = 0;
};

// A queue of pages and a queue of written pages handed back for reuse.
class PageQueue {
 public:
  void Push(Page* p) {
    { std::lock_guard l(mu_); q_.push_back(p); }
    cv_.notify_one();
  }
  Page* Pop() {  // nullptr: closed and empty
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return !q_.empty() || closed_; });
    if (q_.empty()) return nullptr;
    Page* p = q_.front();
    q_.pop_front();
    return p;
  }
  Page* TryPop() {
    std::lock_guard l(mu_);
    if (q_.empty()) return nullptr;
    Page* p = q_.front();
    q_.pop_front();
    return p;
  }
  void Close() {
    { std::lock_guard l(mu_); closed_ = true; }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Page*> q_;
  bool closed_ = false;
};

void Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) Die(std::string(sql) + ": " + (err ? err : "?"));
}

sqlite3* OpenDb(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK)
    Die("open " + path);
  Exec(db, "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-4096; PRAGMA wal_autocheckpoint=0");
  return db;
}

// Binding the typed columns straight from the parsed activity.
void Bind(sqlite3_stmt* s, int i, const std::string& v) { sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC); }
void Bind(sqlite3_stmt* s, int i, double v) { sqlite3_bind_double(s, i, v); }
void Bind(sqlite3_stmt* s, int i, int64_t v) { sqlite3_bind_int64(s, i, v); }
void Bind(sqlite3_stmt* s, int i, bool v) { sqlite3_bind_int(s, i, v ? 1 : 0); }
template <class T>
void Bind(sqlite3_stmt* s, int i, const std::optional<T>& v) {
  if (v) Bind(s, i, *v);
  else sqlite3_bind_null(s, i);
}
void BindCoord(sqlite3_stmt* s, int i, const std::optional<dl::core::LatLng>& v, bool lat) {
  if (v) sqlite3_bind_double(s, i, lat ? v->lat : v->lng);
  else sqlite3_bind_null(s, i);
}

#define DL_COUNT_COL(m, name) +1
#define DL_COUNT_COORD(m, lat, name) +1
constexpr int kTyped = 0 DL_ACTIVITY_COLUMNS(DL_COUNT_COL, DL_COUNT_COORD);
constexpr int kExtra = 8;  // row_id, category, local_date, start_epoch_s, content_hash, first_seen_at, updated_at, seen_by_run
constexpr int kPerRow = kTyped + kExtra;
constexpr int kBatch = 16;

std::string InsertSql(int rows) {
  const int per_row = kPerRow + (g_variant.raw_inline ? 2 : 0);
  std::string sql = "INSERT INTO activities (row_id";
#define DL_NAME_COL(m, name) sql += ", " name;
#define DL_NAME_COORD(m, lat, name) sql += ", " name;
  DL_ACTIVITY_COLUMNS(DL_NAME_COL, DL_NAME_COORD)
  sql += ", category, local_date, start_epoch_s, content_hash, first_seen_at, updated_at, seen_by_run";
  sql += g_variant.raw_inline ? ", raw_codec, raw) VALUES " : ") VALUES ";
  for (int r = 0; r < rows; ++r) {
    sql += r ? ",(" : "(";
    for (int c = 0; c < per_row; ++c) sql += c ? ",?" : "?";
    sql += ")";
  }
  return sql;
}

std::string RawSql(int rows) {
  std::string sql = "INSERT INTO activity_raw (row_id, codec, raw) VALUES ";
  for (int r = 0; r < rows; ++r) sql += r ? ",(?,?,?)" : "(?,?,?)";
  return sql;
}

sqlite3_stmt* Prepare(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK)
    Die("prepare: " + std::string(sqlite3_errmsg(db)));
  return s;
}

void Step(sqlite3* db, sqlite3_stmt* s) {
  if (sqlite3_step(s) != SQLITE_DONE) Die("insert: " + std::string(sqlite3_errmsg(db)));
  sqlite3_reset(s);
}

class Writer {
 public:
  Writer(sqlite3* db, PageQueue& in, PageQueue& back, std::function<void()> committed)
      : db_(db), in_(in), back_(back), committed_(std::move(committed)) {
    for (int n : {kBatch, 1}) {
      ins_[n == 1] = Prepare(db, InsertSql(n));
      raw_[n == 1] = Prepare(db, RawSql(n));
    }
  }
  ~Writer() {
    for (auto* s : ins_) sqlite3_finalize(s);
    for (auto* s : raw_) sqlite3_finalize(s);
  }
  void Run() {
    while (Page* p = in_.Pop()) {
      Exec(db_, "BEGIN IMMEDIATE");
      size_t i = 0;
      while (i < p->size) {
        const int n = p->size - i >= kBatch ? kBatch : 1;
        sqlite3_stmt* ins = ins_[n == 1];
        sqlite3_stmt* raw = raw_[n == 1];
        for (int r = 0; r < n; ++r) {
          const Activity& a = p->activities[i + r];
          const Row& w = p->rows[i + r];
          const int64_t row_id = ++last_row_id_;
          int c = r * (kPerRow + (g_variant.raw_inline ? 2 : 0)) + 1;
          sqlite3_bind_int64(ins, c++, row_id);
#define DL_BIND_COL(m, name) Bind(ins, c++, a.m);
#define DL_BIND_COORD(m, lat, name) BindCoord(ins, c++, a.m, lat);
          DL_ACTIVITY_COLUMNS(DL_BIND_COL, DL_BIND_COORD)
          Bind(ins, c++, w.category);
          Bind(ins, c++, w.local_date);
          sqlite3_bind_int64(ins, c++, w.start_epoch_s);
          sqlite3_bind_int64(ins, c++, 0);
          sqlite3_bind_int64(ins, c++, 1);
          sqlite3_bind_int64(ins, c++, 1);
          sqlite3_bind_int64(ins, c++, 1);
          if (g_variant.raw_inline) {
            sqlite3_bind_int(ins, c++, w.codec);
            sqlite3_bind_blob(ins, c++, w.raw.data(), static_cast<int>(w.raw.size()), SQLITE_STATIC);
            continue;
          }
          const int k = r * 3 + 1;
          sqlite3_bind_int64(raw, k, row_id);
          sqlite3_bind_int(raw, k + 1, w.codec);
          sqlite3_bind_blob(raw, k + 2, w.raw.data(), static_cast<int>(w.raw.size()), SQLITE_STATIC);
        }
        Step(db_, ins);
        if (!g_variant.raw_inline && g_variant.raw != "none") Step(db_, raw);
        else sqlite3_clear_bindings(raw);
        i += n;
      }
      Exec(db_, "COMMIT");
      committed_();
      back_.Push(p);
    }
  }

 private:
  sqlite3* db_;
  PageQueue& in_;
  PageQueue& back_;
  std::function<void()> committed_;
  sqlite3_stmt* ins_[2] = {};
  sqlite3_stmt* raw_[2] = {};
  int64_t last_row_id_ = 0;
};

#if DL_FLOOR_LZ4
// LZ4 with the compact codec's dictionary attached (not loaded per call).
class Lz4 {
 public:
  Lz4() {
    LZ4_loadDict(&dict_, sq::RawDictionaryV1().data(), static_cast<int>(sq::RawDictionaryV1().size()));
  }
  void Encode(std::string_view in, std::string& out) {
    out.resize(static_cast<size_t>(LZ4_compressBound(static_cast<int>(in.size()))));
    LZ4_resetStream_fast(&work_);
    LZ4_attach_dictionary(&work_, &dict_);
    const int n = LZ4_compress_fast_continue(&work_, in.data(), out.data(), static_cast<int>(in.size()),
                                             static_cast<int>(out.size()), 1);
    if (n <= 0) Die("lz4");
    out.resize(static_cast<size_t>(n));
  }

 private:
  LZ4_stream_t dict_{};
  LZ4_stream_t work_{};
};
#else
struct Lz4 {
  void Encode(std::string_view, std::string&) { Die("--raw lz4: built without the static liblz4 (liblz4-dev)"); }
};
#endif

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

class Http {
 public:
  Http() : curl_(curl_easy_init()) {
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, Append);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &body_);
  }
  ~Http() {
    curl_slist_free_all(headers_);
    curl_easy_cleanup(curl_);
  }
  void SetBearer(const std::string& token) {
    headers_ = curl_slist_append(headers_, ("Authorization: Bearer " + token).c_str());
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
  }
  std::string& Get(const std::string& url, const std::string* post = nullptr) {
    body_.clear();
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    if (post) curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, post->c_str());
    else curl_easy_setopt(curl_, CURLOPT_HTTPGET, 1L);
    if (curl_easy_perform(curl_) != CURLE_OK) Die("request failed: " + url);
    long status = 0;
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) Die("HTTP " + std::to_string(status) + " for " + url);
    return body_;
  }

 private:
  CURL* curl_;
  curl_slist* headers_ = nullptr;
  std::string body_;
};

void WriteFileSynced(const std::filesystem::path& path, const std::string& text) {
  const auto tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || ::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()) || ::fsync(fd) != 0)
    Die("write " + tmp);
  ::close(fd);
  std::filesystem::rename(tmp, path);
}

// The two legacy files of one year, from one GROUP BY of the stored rows.
void WriteYear(sqlite3* db, int64_t athlete_id, int year, const std::filesystem::path& dir) {
  sqlite3_stmt* s = Prepare(db,
                            "SELECT local_date, CAST(SUM(CAST(round(distance_m * 1000) AS INTEGER)) AS INTEGER), "
                            "group_concat(id) FROM activities WHERE athlete_id = ?1 AND category = 'cycling' "
                            "AND local_date >= ?2 AND local_date < ?3 GROUP BY local_date ORDER BY local_date");
  const std::string from = std::to_string(year) + "-01-01", to = std::to_string(year + 1) + "-01-01";
  sqlite3_bind_int64(s, 1, athlete_id);
  sqlite3_bind_text(s, 2, from.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(s, 3, to.c_str(), -1, SQLITE_TRANSIENT);
  std::string summary = "{";
  std::vector<std::pair<std::string, int64_t>> days;
  while (sqlite3_step(s) == SQLITE_ROW) {
    const std::string day = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    const int64_t mm = sqlite3_column_int64(s, 1);
    char miles[32];
    std::snprintf(miles, sizeof miles, "%.2f", static_cast<double>(mm) / 1e6 * 0.62137);
    if (summary.size() > 1) summary += ",";
    summary += "\"" + day + "\":{\"distance_miles\":" + miles + ",\"activity_ids\":[" +
               reinterpret_cast<const char*>(sqlite3_column_text(s, 2)) + "]}";
    days.emplace_back(day, mm);
  }
  sqlite3_finalize(s);
  summary += "}";
  std::string series = "{\"distance_traveled\":[";
  int64_t total = 0;
  size_t next = 0;
  const int n = dl::core::DaysInYear(year);
  dl::core::Date d = *dl::core::ParseDate(from);
  for (int i = 0; i < n; ++i, d = dl::core::AddDays(d, 1)) {
    const std::string day = dl::core::FormatDate(d);
    if (next < days.size() && days[next].first == day) total += days[next++].second;
    char y[32];
    std::snprintf(y, sizeof y, "%.2f", static_cast<double>(total) / 1e6 * 0.62137);
    series += std::string(i ? "," : "") + "{\"x\":\"" + day + "\",\"y\":" + y + "}";
  }
  series += "]}";
  const auto year_dir = dir / "activities" / std::to_string(year);
  std::filesystem::create_directories(year_dir);
  WriteFileSynced(year_dir / "summary_activities.json", summary);
  WriteFileSynced(year_dir / "distances.json", series);
  const int dfd = ::open(year_dir.c_str(), O_RDONLY | O_DIRECTORY);
  ::fsync(dfd);
  ::close(dfd);
}

}  // namespace

int main(int argc, char** argv) {
  const auto t0 = std::chrono::steady_clock::now();
  std::string api, oauth, dir;
  int first = 0, last = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--api") api = v;
    else if (k == "--oauth") oauth = v;
    else if (k == "--dir") dir = v;
    else if (k == "--raw") g_variant.raw = v;
    else if (k == "--raw-inline") g_variant.raw_inline = v == "1";
    else if (k == "--index-after") g_variant.index_after = v == "1";
    else if (k == "--years") {
      if (std::sscanf(v.c_str(), "%d-%d", &first, &last) != 2) Die("--years FIRST-LAST");
    } else Die("unknown flag " + k);
  }
  if (api.empty() || oauth.empty() || dir.empty() || first == 0) {
    std::fprintf(stderr, "usage: ingest_floor_bench --api URL --oauth URL --years FIRST-LAST --dir DIR\n");
    return 2;
  }
  std::filesystem::create_directories(dir);
  const std::string db_path = dir + "/desirelines.db";
  {  // the real schema, by the store's own migrations
    auto store = sq::SqliteStore::Open(db_path, dl::core::SportCategories::Default());
    if (!store) Die("schema: " + store.error().message);
  }
  sqlite3* wdb = OpenDb(db_path);
  sqlite3* cdb = OpenDb(db_path);
  if (g_variant.raw_inline) Exec(wdb, "ALTER TABLE activities ADD COLUMN raw_codec INTEGER; ALTER TABLE activities ADD COLUMN raw BLOB");
  if (g_variant.index_after) Exec(wdb, "DROP INDEX activities_by_local_date");

  std::mutex cmu;
  std::condition_variable ccv;
  bool poked = false, done = false;
  std::thread checkpointer([&] {
    std::unique_lock l(cmu);
    while (true) {
      ccv.wait(l, [&] { return poked || done; });
      if (!poked && done) break;
      poked = false;
      l.unlock();
      sqlite3_wal_checkpoint_v2(cdb, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      l.lock();
    }
  });

  curl_global_init(CURL_GLOBAL_DEFAULT);
  Http http;
  const std::string form = "client_id=1&client_secret=s&refresh_token=r&grant_type=refresh_token";
  auto tokens = dl::adapters::strava_http::ParseTokenSet(http.Get(oauth + "/token", &form));
  if (!tokens) Die("token: " + tokens.error().message);
  http.SetBearer(tokens->access_token);

  PageQueue to_writer, back;
  std::vector<std::unique_ptr<Page>> pages(18);  // 16 pages of write-ahead, as the backfill
  for (auto& p : pages) back.Push((p = std::make_unique<Page>()).get());
  auto writer = std::make_unique<Writer>(wdb, to_writer, back, [&] {
    { std::lock_guard l(cmu); poked = true; }
    ccv.notify_one();
  });
  std::thread writer_thread([&] { writer->Run(); });

  dl::adapters::strava_http::ActivityParser parser;
  sq::RawJsonCodec codec(true, -1);
  Lz4 lz4;
  const auto& categories = dl::core::SportCategories::Default();
  int64_t after = dl::core::WidenedUtcRangeForLocalYear(first).after_epoch_s;
  const int64_t before = dl::core::WidenedUtcRangeForLocalYear(last).before_epoch_s;
  int64_t athlete_id = 0;
  size_t total = 0, requests = 0;
  while (true) {
    std::string& body = http.Get(api + "/athlete/activities?after=" + std::to_string(after) +
                                 "&before=" + std::to_string(before) + "&per_page=200");
    ++requests;
    Page* p = back.Pop();
    if (auto s = parser.ParsePageInPlace(body, p->activities); !s) Die("parse: " + s.error().message);
    p->size = p->activities.size();
    if (p->rows.size() < p->size) p->rows.resize(p->size);
    for (size_t i = 0; i < p->size; ++i) {
      const Activity& a = p->activities[i];
      Row& w = p->rows[i];
      if (g_variant.raw == "zstd") {
        const auto enc = codec.Encode(a.raw_json, a.map_summary_polyline);
        w.raw.assign(enc.bytes.data(), enc.bytes.size());
        w.codec = static_cast<int>(enc.codec);
      } else if (g_variant.raw == "text") {
        w.raw.assign(a.raw_json);
        w.codec = 0;
      } else if (g_variant.raw == "lz4") {
        lz4.Encode(a.raw_json, w.raw);
        w.codec = 9;
      }
      w.category = categories.Categorize(a.type, a.sport_type);
      const auto local = dl::core::LocalDateOf(a.start_date_local);
      w.local_date = local ? dl::core::FormatDate(*local) : std::string();
      const auto start = dl::core::ParseIsoUtc(a.start_date);
      w.start_epoch_s = start ? start->time_since_epoch().count() : 0;
      after = std::max(after, w.start_epoch_s);
      athlete_id = a.athlete_id;
    }
    total += p->size;
    const bool last_page = p->size < 200;
    to_writer.Push(p);
    if (last_page) break;
  }
  to_writer.Close();
  writer_thread.join();
  writer.reset();  // its statements, before the connection closes
  {
    std::lock_guard l(cmu);
    done = true;
  }
  ccv.notify_one();
  checkpointer.join();
  if (g_variant.index_after) Exec(wdb, "CREATE INDEX activities_by_local_date ON activities (athlete_id, local_date)");
  for (int year = first; year <= last; ++year) WriteYear(wdb, athlete_id, year, dir);
  if (sqlite3_close(cdb) != SQLITE_OK || sqlite3_close(wdb) != SQLITE_OK) Die("close");
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("{\"activities\": %zu, \"requests\": %zu, \"seconds\": %.4f, \"per_second\": %.0f}\n", total, requests, s,
              static_cast<double>(total) / s);
  return 0;
}
