// Backfill ingest on PostgreSQL against SQLite, same rows, same run: rows
// per second through Store::UpsertActivities in pages of 200 (one
// transaction each, with the page's checkpoint, as backfill writes them):
//   first        every row new
//   re-run       every row unchanged, stamped with a new run id
//   same run     every row unchanged, nothing to stamp
//   all changed  every row's data changed
// then PostgreSQL with 2 writers at once (two threads on one store, each its
// own athletes), which SQLite cannot do in parallel.
//
// PostgreSQL works in its own server process, so rows per CPU-second of
// this process mean little for it: compare wall rows/s, and mind that the
// server and the bench share this machine's cores.
//
// Usage: DL_BENCH_PG_URL=postgresql://user@127.0.0.1:PORT/postgres pg_ingest_bench [--rows N]
// (falls back to DL_TEST_PG_URL). The URL's role must be allowed to CREATE
// DATABASE: the bench works in a fresh database and drops it afterwards.
// Build with CMAKE_BUILD_TYPE=Release.
#include <libpq-fe.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "adapters/postgres/postgres_store.h"
#include "adapters/sqlite/sqlite_store.h"
#include "core/sports.h"
#include "core/time.h"

namespace {

using dl::core::Activity;
namespace pg = dl::adapters::postgres;
namespace sq = dl::adapters::sqlite;

constexpr size_t kPage = 200;
constexpr int kAthletes = 20;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "pg_ingest_bench: %s\n", what.c_str());
  std::exit(1);
}

// Google's polyline encoding of a random walk: realistic, poorly compressible.
void EncodeValue(int64_t v, std::string& out) {
  uint64_t u = v < 0 ? ~(static_cast<uint64_t>(v) << 1) : (static_cast<uint64_t>(v) << 1);
  while (u >= 0x20) {
    out.push_back(static_cast<char>((0x20 | (u & 0x1f)) + 63));
    u >>= 5;
  }
  out.push_back(static_cast<char>(u + 63));
}

// A SummaryActivity-sized row (about 2 KB of raw JSON) with its typed fields.
Activity MakeActivity(std::mt19937_64& rng, int64_t athlete_id, int64_t id, int64_t local_epoch_s) {
  std::uniform_real_distribution<double> u(0, 1);
  Activity a;
  a.id = id;
  a.athlete_id = athlete_id;
  a.name = "Morning Ride " + std::to_string(id % 1000);
  a.distance_m = std::round((5000 + u(rng) * 80000) * 10) / 10;
  a.moving_time_s = static_cast<int64_t>(1200 + u(rng) * 9000);
  a.elapsed_time_s = a.moving_time_s + 300;
  a.total_elevation_gain_m = std::round(u(rng) * 9000) / 10;
  a.type = a.sport_type = u(rng) < 0.8 ? "Ride" : "Run";
  a.start_date_local = dl::core::FormatIsoUtc(dl::core::TimePoint{std::chrono::seconds{local_epoch_s}});
  a.start_date = dl::core::FormatIsoUtc(dl::core::TimePoint{std::chrono::seconds{local_epoch_s + 18000}});
  a.timezone = "(GMT-05:00) America/New_York";
  a.utc_offset_s = -18000;
  a.start_latlng = dl::core::LatLng{40.71, -74.0};
  a.end_latlng = dl::core::LatLng{40.72, -74.01};
  a.map_id = "a" + std::to_string(id);
  std::string polyline;
  std::normal_distribution<double> step(0, 40);
  for (int i = 0; i < 640; ++i) EncodeValue(static_cast<int64_t>(step(rng)), polyline);
  a.map_summary_polyline = polyline;
  a.visibility = "everyone";
  a.average_speed_mps = a.distance_m / static_cast<double>(a.moving_time_s);
  a.average_watts = 180 + u(rng) * 60;
  a.has_heartrate = true;
  a.average_heartrate = 140;
  a.gear_id = "b1234567";
  a.external_id = "garmin_ping_" + std::to_string(id);
  a.upload_id = id * 7;
  a.raw_json = "{\"resource_state\":2,\"athlete\":{\"id\":" + std::to_string(athlete_id) + "},\"name\":\"" + a.name +
               "\",\"distance\":" + std::to_string(a.distance_m) +
               ",\"moving_time\":" + std::to_string(a.moving_time_s) + ",\"type\":\"" + a.type +
               "\",\"id\":" + std::to_string(id) + ",\"start_date\":\"" + a.start_date + "\",\"start_date_local\":\"" +
               a.start_date_local + "\",\"timezone\":\"" + a.timezone + "\",\"map\":{\"id\":\"" + *a.map_id +
               "\",\"summary_polyline\":\"" + polyline +
               "\",\"resource_state\":2},\"trainer\":false,\"commute\":false,\"manual\":false,"
               "\"private\":false,\"visibility\":\"everyone\",\"flagged\":false,\"gear_id\":\"b1234567\","
               "\"start_latlng\":[40.71,-74.0],\"end_latlng\":[40.72,-74.01],\"has_heartrate\":true,"
               "\"average_heartrate\":140.0,\"external_id\":\"" +
               *a.external_id + "\",\"upload_id\":" + std::to_string(*a.upload_id) +
               ",\"pr_count\":0,\"total_photo_count\":0,\"has_kudoed\":false}";
  return a;
}

// Athletes one after another, about two activities a day each, oldest first.
std::vector<Activity> MakeActivities(size_t rows) {
  std::mt19937_64 rng(42);
  std::vector<Activity> out;
  const size_t per_athlete = (rows + kAthletes - 1) / kAthletes;
  for (int athlete = 1; athlete <= kAthletes && out.size() < rows; ++athlete) {
    int64_t t = 1672531200;  // 2023-01-01
    for (size_t i = 0; i < per_athlete && out.size() < rows; ++i) {
      t += 6 * 3600 + static_cast<int64_t>(rng() % (30 * 3600));
      out.push_back(MakeActivity(rng, athlete, 9000000000 + static_cast<int64_t>(out.size()), t));
    }
  }
  return out;
}

double Seconds(const std::function<void()>& work) {
  const auto t0 = std::chrono::steady_clock::now();
  work();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void Upsert(dl::ports::Store& store, std::span<const Activity> rows, int64_t run) {
  for (size_t i = 0; i < rows.size(); i += kPage) {
    dl::ports::UpsertOptions options;
    options.now_epoch_s = 1700000000;
    options.seen_by_run = run;
    options.checkpoint = std::make_pair("bench:" + std::to_string(rows[i].athlete_id) + ":2023", std::to_string(i));
    auto s = store.UpsertActivities(rows.subspan(i, std::min(kPage, rows.size() - i)), options);
    if (!s) Die(s.error().message);
  }
}

struct Rates {
  double first = 0, rerun = 0, same = 0, changed = 0;
};

Rates RunPasses(dl::ports::Store& store, const std::vector<Activity>& rows, const std::vector<Activity>& changed) {
  const auto n = static_cast<double>(rows.size());
  Rates r;
  r.first = n / Seconds([&] { Upsert(store, rows, 1); });
  r.rerun = n / Seconds([&] { Upsert(store, rows, 2); });
  r.same = n / Seconds([&] { Upsert(store, rows, 2); });
  r.changed = n / Seconds([&] { Upsert(store, changed, 3); });
  return r;
}

std::string AdminQuery(PGconn* conn, const std::string& sql) {
  PGresult* r = PQexec(conn, sql.c_str());
  const auto status = PQresultStatus(r);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) Die(sql + ": " + PQresultErrorMessage(r));
  std::string value = PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
  PQclear(r);
  return value;
}

std::string WithDatabase(const std::string& url, const std::string& db) {
  const size_t start = url.find("://") == std::string::npos ? 0 : url.find("://") + 3;
  const size_t query = url.find('?', start);
  const size_t end = query == std::string::npos ? url.size() : query;
  const size_t slash = url.find('/', start);
  if (slash == std::string::npos || slash > end) return url.substr(0, end) + "/" + db + url.substr(end);
  return url.substr(0, slash + 1) + db + url.substr(end);
}

// Two writers on one PostgreSQL store, each with its own athletes.
double TwoWriters(const std::string& url, const std::vector<Activity>& rows) {
  auto store = pg::PostgresStore::Open(url, dl::core::SportCategories::Default());
  if (!store) Die(store.error().message);
  const size_t half = rows.size() / 2 / kPage * kPage;  // athletes are contiguous; split on a page
  return static_cast<double>(rows.size()) / Seconds([&] {
           std::thread other([&] { Upsert(**store, std::span(rows).subspan(half), 1); });
           Upsert(**store, std::span(rows).first(half), 1);
           other.join();
         });
}

void PrintRow(const char* name, double sqlite, double postgres) {
  std::printf("%-22s %10.0f %10.0f   %5.2fx\n", name, sqlite, postgres, postgres / sqlite);
}

}  // namespace

int main(int argc, char** argv) {
  size_t rows = 20000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--rows") == 0)
      rows = std::strtoul(argv[i + 1], nullptr, 10);
    else
      Die("usage: pg_ingest_bench [--rows N]");
  }
  const char* env = std::getenv("DL_BENCH_PG_URL");
  if (env == nullptr || *env == '\0') env = std::getenv("DL_TEST_PG_URL");
  if (env == nullptr || *env == '\0') Die("set DL_BENCH_PG_URL to an admin URL (postgresql://user@host:port/postgres)");
  const std::string admin_url = env;
  PGconn* admin = PQconnectdb(admin_url.c_str());
  if (PQstatus(admin) != CONNECTION_OK) Die(std::string("cannot connect: ") + PQerrorMessage(admin));
  const std::string db = "dl_bench_" + std::to_string(::getpid());
  AdminQuery(admin, "CREATE DATABASE " + db + " TEMPLATE template0 ENCODING 'UTF8'");
  const std::string url = WithDatabase(admin_url, db);
  std::printf("PostgreSQL %s (fsync=%s, shared_buffers=%s); bulk pages commit with synchronous_commit=off\n",
              AdminQuery(admin, "SHOW server_version").c_str(), AdminQuery(admin, "SHOW fsync").c_str(),
              AdminQuery(admin, "SHOW shared_buffers").c_str());

  const auto activities = MakeActivities(rows);
  std::vector<Activity> changed = activities;
  for (auto& a : changed) {
    a.kudos_count += 1;
    a.raw_json.insert(a.raw_json.size() - 1, ",\"bench_changed\":true");
  }
  size_t raw_bytes = 0;
  for (const auto& a : activities) raw_bytes += a.raw_json.size();
  std::printf("%zu activities, %d athletes, raw JSON %zu bytes on average, pages of %zu\n\n", activities.size(),
              kAthletes, raw_bytes / activities.size(), kPage);

  std::string dir = (std::filesystem::temp_directory_path() / "dl_pg_bench_XXXXXX").string();
  if (::mkdtemp(dir.data()) == nullptr) Die("cannot create a temporary directory");
  Rates lite, post;
  {
    auto store = sq::SqliteStore::Open(dir + "/store.db", dl::core::SportCategories::Default());
    if (!store) Die(store.error().message);
    lite = RunPasses(**store, activities, changed);
  }
  {
    pg::OpenOptions options;
    options.migrate = true;
    auto store = pg::PostgresStore::Open(url, dl::core::SportCategories::Default(), options);
    if (!store) Die(store.error().message);
    post = RunPasses(**store, activities, changed);
  }
  std::printf("%-22s %10s %10s   %s\n", "rows/s (wall)", "SQLite", "PostgreSQL", "PG/SQLite");
  PrintRow("first insert", lite.first, post.first);
  PrintRow("re-run, new run id", lite.rerun, post.rerun);
  PrintRow("re-run, same run", lite.same, post.same);
  PrintRow("all changed", lite.changed, post.changed);

  AdminQuery(admin, "DROP DATABASE " + db + " WITH (FORCE)");
  AdminQuery(admin, "CREATE DATABASE " + db + " TEMPLATE template0 ENCODING 'UTF8'");
  {
    pg::OpenOptions options;
    options.migrate = true;
    if (!pg::PostgresStore::Open(url, dl::core::SportCategories::Default(), options)) Die("migrate failed");
  }
  std::printf("%-22s %10s %10.0f\n", "first, 2 PG writers", "-", TwoWriters(url, activities));

  AdminQuery(admin, "DROP DATABASE " + db + " WITH (FORCE)");
  PQfinish(admin);
  std::filesystem::remove_all(dir);
  return 0;
}
