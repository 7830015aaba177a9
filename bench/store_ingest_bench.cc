// Store ingest throughput: rows per second into SQLite for
//   typed-only insert          the ceiling without the raw JSON
//   naive raw (4 KiB pages)    typed columns + 2 KB raw JSON inline, default page size
//   naive raw (16 KiB pages)   the same with the store's page size
//   store upsert, first        SqliteStore::UpsertActivities on an empty store
//   store 1st + rebuild        the same, then RebuildYear per (athlete, year)
//   store 1st deferred+rebuild with defer_daily, then RebuildYear per
//                              (athlete, year): what backfill does now
//   store upsert, text first   the same with the raw JSON kept as text
//                              (SqliteOptions::compact_raw_json off)
//   store re-run, new run      every row unchanged, stamped with a new run id
//   store re-run, same run     every row unchanged, nothing to stamp
//   store upsert, all changed  every row's data changed
// Pages of 200 activities, one transaction each, as backfill writes them;
// 20 athletes with about two activities a day. Numbers move from run to run
// on shared machines: compare the ratios printed beside them (same run).
//
// "rows/cpu-s" is rows per CPU-second of this process (every thread, the
// store's background checkpointer included): the cost that does not depend
// on how busy the shared machine is; wall rows/s include waiting for the CPU
// and the disk, and gain from the checkpointer running on the other core.
//
// Usage: store_ingest_bench [--rows N] [--dir DIR] [--first-only 1]   (Release build)
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "adapters/sqlite/activity_columns.h"
#include "adapters/sqlite/connection.h"
#include "adapters/sqlite/raw_codec.h"
#include "adapters/sqlite/sqlite_store.h"
#include "core/sports.h"
#include "core/time.h"

namespace {

using dl::core::Activity;
namespace sq = dl::adapters::sqlite;

constexpr size_t kPage = 200;
constexpr int kAthletes = 20;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "store_ingest_bench: %s\n", what.c_str());
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

std::string Polyline(std::mt19937_64& rng, int points) {
  std::normal_distribution<double> step(0, 40);
  std::string out;
  EncodeValue(4071234, out);
  EncodeValue(-7400567, out);
  for (int i = 1; i < points; ++i) {
    EncodeValue(static_cast<int64_t>(step(rng)), out);
    EncodeValue(static_cast<int64_t>(step(rng)), out);
  }
  return out;
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// A SummaryActivity as Strava sends it (about 2 KB), and its typed fields.
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
  a.elev_high_m = 120.5;
  a.elev_low_m = 3.2;
  a.type = u(rng) < 0.8 ? "Ride" : "Run";
  a.sport_type = a.type;
  a.start_date_local = dl::core::FormatIsoUtc(dl::core::TimePoint{std::chrono::seconds{local_epoch_s}});
  a.start_date = dl::core::FormatIsoUtc(dl::core::TimePoint{std::chrono::seconds{local_epoch_s + 18000}});
  a.timezone = "(GMT-05:00) America/New_York";
  a.utc_offset_s = -18000;
  a.start_latlng = dl::core::LatLng{40.71, -74.0};
  a.end_latlng = dl::core::LatLng{40.72, -74.01};
  a.map_id = "a" + std::to_string(id);
  a.map_summary_polyline = Polyline(rng, 170);
  a.visibility = "everyone";
  a.average_speed_mps = a.distance_m / static_cast<double>(a.moving_time_s);
  a.max_speed_mps = 14.2;
  a.average_watts = 180 + u(rng) * 60;
  a.kilojoules = 600;
  a.device_watts = true;
  a.has_heartrate = true;
  a.average_heartrate = 140;
  a.max_heartrate = 175;
  a.gear_id = "b1234567";
  a.external_id = "garmin_ping_" + std::to_string(id);
  a.upload_id = id * 7;
  a.kudos_count = static_cast<int64_t>(u(rng) * 30);
  a.raw_json =
      "{\"resource_state\":2,\"athlete\":{\"id\":" + std::to_string(athlete_id) + ",\"resource_state\":1},\"name\":\"" +
      a.name + "\",\"distance\":" + Num(a.distance_m) + ",\"moving_time\":" + std::to_string(a.moving_time_s) +
      ",\"elapsed_time\":" + std::to_string(a.elapsed_time_s) +
      ",\"total_elevation_gain\":" + Num(a.total_elevation_gain_m) + ",\"type\":\"" + a.type + "\",\"sport_type\":\"" +
      a.sport_type + "\",\"workout_type\":null,\"id\":" + std::to_string(id) + ",\"start_date\":\"" + a.start_date +
      "\",\"start_date_local\":\"" + a.start_date_local +
      "\",\"timezone\":\"(GMT-05:00) America/New_York\",\"utc_offset\":-18000.0,\"location_city\":null,"
      "\"location_state\":null,\"location_country\":\"United States\",\"achievement_count\":0,"
      "\"kudos_count\":" +
      std::to_string(a.kudos_count) + ",\"comment_count\":0,\"athlete_count\":1,\"photo_count\":0,\"map\":{\"id\":\"" +
      *a.map_id + "\",\"summary_polyline\":\"" + sq::EscapeJsonString(*a.map_summary_polyline) +
      "\",\"resource_state\":2},\"trainer\":false,\"commute\":false,\"manual\":false,\"private\":false,"
      "\"visibility\":\"everyone\",\"flagged\":false,\"gear_id\":\"b1234567\",\"start_latlng\":[40.71,-74.0],"
      "\"end_latlng\":[40.72,-74.01],\"average_speed\":" +
      Num(*a.average_speed_mps) + ",\"max_speed\":14.2,\"average_watts\":" + Num(*a.average_watts) +
      ",\"kilojoules\":600.0,\"device_watts\":true,\"has_heartrate\":true,\"average_heartrate\":140.0,"
      "\"max_heartrate\":175.0,\"heartrate_opt_out\":false,\"display_hide_heartrate_option\":true,"
      "\"elev_high\":120.5,\"elev_low\":3.2,\"upload_id\":" +
      std::to_string(*a.upload_id) + ",\"external_id\":\"" + *a.external_id +
      "\",\"from_accepted_tag\":false,\"pr_count\":0,"
      "\"total_photo_count\":0,\"has_kudoed\":false}";
  return a;
}

// Pages of one athlete's activities, oldest first, as the API lists them.
std::vector<Activity> MakeActivities(size_t rows) {
  std::mt19937_64 rng(42);
  std::vector<Activity> out;
  const size_t per_athlete = (rows + kAthletes - 1) / kAthletes;
  const int64_t start = 1672531200;  // 2023-01-01
  for (int athlete = 1; athlete <= kAthletes && out.size() < rows; ++athlete) {
    int64_t t = start;
    for (size_t i = 0; i < per_athlete && out.size() < rows; ++i) {
      t += 6 * 3600 + static_cast<int64_t>(rng() % (30 * 3600));  // about two a day
      out.push_back(MakeActivity(rng, athlete, 9000000000 + static_cast<int64_t>(out.size()), t));
    }
  }
  return out;
}

double CpuSeconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

double g_last_cpu_s = 0;  // CPU time of the last Seconds() call: wall minus this is waiting (I/O, fsync)

double Seconds(const std::function<void()>& work) {
  const double cpu0 = CpuSeconds();
  auto t0 = std::chrono::steady_clock::now();
  work();
  g_last_cpu_s = CpuSeconds() - cpu0;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The raw-SQLite ceilings: a prepared INSERT of the typed columns (and
// optionally the raw JSON inline), 200 rows per transaction, no checks.
double PlainInsert(const std::string& path, const std::vector<Activity>& rows, bool with_raw, int page_size) {
  sq::ConnectionOptions options;
  options.page_size = page_size;
  auto c = sq::Connection::Open(path, options);
  if (!c) Die(c.error().message);
  std::string columns, params;
  int n = 0;
  for (const auto& col : sq::ActivityColumns()) {
    columns += std::string(n ? ", " : "") + col.name;
    params += (n ? ", ?" : "?") + std::to_string(n + 1);
    ++n;
  }
  if (with_raw) {
    columns += ", raw_json";
    params += ", ?" + std::to_string(++n);
  }
  const std::string ddl = "CREATE TABLE t (" + columns + ", PRIMARY KEY (athlete_id, id))";
  if (auto s = (*c)->Exec(ddl.c_str()); !s) Die(s.error().message);
  const std::string insert = "INSERT INTO t (" + columns + ") VALUES (" + params + ")";
  return Seconds([&] {
    for (size_t i = 0; i < rows.size(); i += kPage) {
      auto txn = (*c)->Begin(sq::Durability::kNormal);
      if (!txn) Die(txn.error().message);
      for (size_t j = i; j < std::min(rows.size(), i + kPage); ++j) {
        auto q = (*c)->Prepare(insert.c_str());
        if (!q) Die(q.error().message);
        int index = 1;
        for (const auto& col : sq::ActivityColumns()) col.bind(*q, index++, rows[j]);
        if (with_raw) q->Bind(index, rows[j].raw_json);
        if (auto s = q->Run(); !s) Die(s.error().message);
      }
      if (auto s = txn->Commit(); !s) Die(s.error().message);
    }
  });
}

struct StorePass {
  double seconds = 0;
  dl::ports::UpsertSummary summary;
};

// defer: with UpsertOptions::defer_daily. rebuild: then one RebuildYear per
// (athlete, year), timed with the pass, as backfill does after its listing.
StorePass Upsert(sq::SqliteStore& store, const std::vector<Activity>& rows, int64_t run, bool defer = false,
                 bool rebuild = false) {
  StorePass pass;
  pass.seconds = Seconds([&] {
    for (size_t i = 0; i < rows.size(); i += kPage) {
      dl::ports::UpsertOptions options;
      options.now_epoch_s = 1700000000;
      options.seen_by_run = run;
      options.defer_daily = defer;
      options.checkpoint = std::make_pair(std::string("bench:1:2023-2025"), std::to_string(i));
      std::span<const Activity> page(rows.data() + i, std::min(kPage, rows.size() - i));
      auto s = store.UpsertActivities(page, options);
      if (!s) Die(s.error().message);
      pass.summary.inserted += s->inserted;
      pass.summary.updated += s->updated;
      pass.summary.unchanged += s->unchanged;
    }
    if (!rebuild) return;
    std::set<std::pair<int64_t, int>> years;
    for (const auto& a : rows) {
      if (auto date = a.LocalDate()) years.emplace(a.athlete_id, static_cast<int>(date->year()));
    }
    for (const auto& [athlete, year] : years) {
      if (auto s = store.RebuildYear(athlete, year); !s) Die(s.error().message);
    }
  });
  return pass;
}

std::unique_ptr<sq::SqliteStore> OpenStore(const std::string& path, bool text) {
  sq::SqliteOptions options;
  options.compact_raw_json = !text;
  auto store = sq::SqliteStore::Open(path, dl::core::SportCategories::Default(), options);
  if (!store) Die(store.error().message);
  return std::move(*store);
}

// Ratios are taken on rows per CPU-second (stable on a busy machine) against
// the typed-only ceiling and the naive raw-JSON insert measured in this run.
struct Baselines {
  double typed_cpu = 0, naive_cpu = 0;
};
Baselines g_base;

double Print(const char* name, size_t rows, double seconds, const std::string& note = "") {
  const double rate = static_cast<double>(rows) / seconds;
  const double cpu_rate = static_cast<double>(rows) / g_last_cpu_s;
  std::printf("%-26s %8.0f rows/s %8.0f rows/cpu-s %6.2fx typed %6.2fx naive  %s\n", name, rate, cpu_rate,
              g_base.typed_cpu > 0 ? cpu_rate / g_base.typed_cpu : 1.0,
              g_base.naive_cpu > 0 ? cpu_rate / g_base.naive_cpu : 1.0, note.c_str());
  return cpu_rate;
}

}  // namespace

int main(int argc, char** argv) {
  size_t rows = 40000;
  std::string dir;
  bool store_first_only = false;  // --first-only: just "store upsert, first" (for profiling)
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--rows") == 0)
      rows = std::strtoul(argv[i + 1], nullptr, 10);
    else if (std::strcmp(argv[i], "--dir") == 0)
      dir = argv[i + 1];
    else if (std::strcmp(argv[i], "--first-only") == 0)
      store_first_only = std::strcmp(argv[i + 1], "1") == 0;
    else
      Die("usage: store_ingest_bench [--rows N] [--dir DIR] [--first-only 1]");
  }
  const bool own_dir = dir.empty();
  if (own_dir) {
    std::string pattern = (std::filesystem::temp_directory_path() / "dl_store_bench_XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) Die("cannot create a temporary directory");
    dir = pattern;
  }
  const auto activities = MakeActivities(rows);
  size_t raw_bytes = 0;
  for (const auto& a : activities) raw_bytes += a.raw_json.size();
  std::printf("%zu activities, %zu athletes, raw JSON %zu bytes on average, pages of %zu\n\n", activities.size(),
              static_cast<size_t>(kAthletes), raw_bytes / activities.size(), kPage);

  std::vector<Activity> changed = activities;
  for (auto& a : changed) {
    a.kudos_count += 1;
    a.raw_json.insert(a.raw_json.size() - 1, ",\"bench_changed\":true");
  }

  if (store_first_only) {
    auto store = OpenStore(dir + "/store.db", false);
    auto first = Upsert(*store, activities, 1, true, true);
    Print("store 1st deferred+rebuild", rows, first.seconds);
    store.reset();
    if (own_dir) std::filesystem::remove_all(dir);
    return 0;
  }
  const double typed = PlainInsert(dir + "/typed.db", activities, false, 16384);
  g_base.typed_cpu = Print("typed-only insert", rows, typed);
  g_base.naive_cpu = Print("naive raw (4 KiB pages)", rows, PlainInsert(dir + "/naive4k.db", activities, true, 4096));
  Print("naive raw (16 KiB pages)", rows, PlainInsert(dir + "/naive16k.db", activities, true, 16384));

  auto store = OpenStore(dir + "/store.db", false);
  auto first = Upsert(*store, activities, 1);
  Print("store upsert, first", rows, first.seconds, std::to_string(first.summary.inserted) + " inserted");
  {
    // Backfill's two possible paths: the daily totals recomputed with every
    // page and again by the final RebuildYear, or deferred to that rebuild.
    auto immediate_store = OpenStore(dir + "/store_immediate.db", false);
    auto immediate = Upsert(*immediate_store, activities, 1, false, true);
    Print("store 1st + rebuild", rows, immediate.seconds, "per-page recompute, then RebuildYear per year");
    auto deferred_store = OpenStore(dir + "/store_deferred.db", false);
    auto deferred = Upsert(*deferred_store, activities, 1, true, true);
    Print("store 1st deferred+rebuild", rows, deferred.seconds, "defer_daily, then RebuildYear per year (backfill)");
  }
  auto rerun = Upsert(*store, activities, 2);
  Print("store re-run, new run", rows, rerun.seconds, std::to_string(rerun.summary.unchanged) + " unchanged");
  auto same = Upsert(*store, activities, 2);
  Print("store re-run, same run", rows, same.seconds, std::to_string(same.summary.unchanged) + " unchanged");
  auto updated = Upsert(*store, changed, 3);
  Print("store upsert, all changed", rows, updated.seconds, std::to_string(updated.summary.updated) + " updated");
  store.reset();

  auto text = OpenStore(dir + "/store_text.db", true);
  auto tfirst = Upsert(*text, activities, 1);
  Print("store upsert, text first", rows, tfirst.seconds, std::to_string(tfirst.summary.inserted) + " inserted");
  text.reset();

  std::printf("\nfile sizes: store %.1f MB (compact raw JSON), store_text %.1f MB, naive 16 KiB %.1f MB\n",
              static_cast<double>(std::filesystem::file_size(dir + "/store.db")) / 1e6,
              static_cast<double>(std::filesystem::file_size(dir + "/store_text.db")) / 1e6,
              static_cast<double>(std::filesystem::file_size(dir + "/naive16k.db")) / 1e6);
  if (own_dir) std::filesystem::remove_all(dir);
  return 0;
}
