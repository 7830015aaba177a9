// Webhook intake throughput and latency on loopback (issue 4, "Benchmarks").
//
// Starts the real server with the webhook routes over an event queue, drives
// POST <path> with unique events from C concurrent keep-alive connections for
// N seconds, then the same POSTs to a handler that only answers 200 (the
// HTTP layer's and load generator's share), then GET /healthz on the same
// server (the ceiling), and prints requests/s and p50/p99 time to the 200.
//
//   webhook_intake_bench [--seconds N] [--connections C] [--workers W]
//                        [--queue memory|store|sqlite] [--max-batch B]
//                        [--commit-latency-us U] [--client wrk|curl] [--db PATH]
//                        [--max-gather-us G] [--direct B] [--page-size P]
//
//   --max-gather-us G  IntakeOptions::max_gather (default: the intake's, off)
//   --direct B         no HTTP: EnqueueBatch of B new events in a loop on one
//                      thread, printing commits/s and the commit's p50/p99
//   --page-size P      the sqlite queue's page size (a new file only)
//
// Queues:
//   memory  tests/fakes' InMemoryEventQueue; --commit-latency-us models an
//           fsync per EnqueueBatch.
//   store   the SQLite store's own queue (adapters/sqlite), as serve runs it.
//   sqlite  a bench-only SQLite queue (WAL, synchronous=FULL, one
//           transaction per EnqueueBatch, dedup by a UNIQUE key): a stand-in
//           for the store's ports::EventQueue until it exists, so that the
//           number is for a real durable commit. --max-batch 1 gives the
//           naive one-commit-per-event queue for comparison.
// Clients: wrk (default when /usr/bin/wrk exists; a generated Lua script
// makes every request a distinct event) or our own libcurl threads.
//
// A benchmark, never run as a test. Build it in Release for numbers.
#include <curl/curl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "adapters/sqlite/sqlite_store.h"
#include "app/intake.h"
#include "fakes/in_memory_event_queue.h"
#include "http/server.h"
#include "http/webhook/webhook_routes.h"
#include "ports/clock.h"

namespace {

using namespace dl;  // a main() file
using Steady = std::chrono::steady_clock;

constexpr int64_t kSubscriptionId = 120475;
constexpr int64_t kOwnerId = 134815;
constexpr const char* kPath = "/webhook";

struct Args {
  int seconds = 5;
  int connections = 8;
  int workers = 16;
  std::string queue = "memory";
  size_t max_batch = 256;
  int commit_latency_us = 0;
  std::string client = std::filesystem::exists("/usr/bin/wrk") ? "wrk" : "curl";
  std::string db;
  int page_size = 0;   // sqlite queue only: PRAGMA page_size of a new file (0: SQLite's default)
  int max_gather_us = -1;  // -1: IntakeOptions' default
  size_t direct = 0;   // > 0: no HTTP; EnqueueBatch of this many events in a loop (commit cost)
};

class WallClock final : public ports::Clock {
 public:
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
  bool SleepUntil(TimePoint t) override {
    std::this_thread::sleep_until(t);
    return true;
  }
};

// ---- a bench-only durable queue ------------------------------------------

class BenchSqliteQueue final : public ports::EventQueue {
 public:
  BenchSqliteQueue(const std::string& path, int page_size) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) Die("open");
    if (page_size > 0) Exec(("PRAGMA page_size=" + std::to_string(page_size)).c_str());
    Exec("PRAGMA journal_mode=WAL");
    Exec("PRAGMA synchronous=FULL");
    Exec("CREATE TABLE IF NOT EXISTS event_queue(seq INTEGER PRIMARY KEY, dedup_key TEXT NOT NULL UNIQUE,"
         " object_type TEXT, object_id INTEGER, aspect_type TEXT, owner_id INTEGER, subscription_id INTEGER,"
         " event_time INTEGER, updates_json TEXT, received_at INTEGER, available_at INTEGER,"
         " attempts INTEGER DEFAULT 0, last_error TEXT)");
    const char* sql =
        "INSERT INTO event_queue(dedup_key, object_type, object_id, aspect_type, owner_id, subscription_id,"
        " event_time, updates_json, received_at, available_at) VALUES(?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT(dedup_key) DO NOTHING";
    if (sqlite3_prepare_v2(db_, sql, -1, &insert_, nullptr) != SQLITE_OK) Die("prepare");
  }
  ~BenchSqliteQueue() override {
    sqlite3_finalize(insert_);
    sqlite3_close(db_);
  }

  Result<std::vector<ports::EnqueueOutcome>> EnqueueBatch(std::span<const core::WebhookEvent> events,
                                                          int64_t now) override {
    Exec("BEGIN IMMEDIATE");
    std::vector<ports::EnqueueOutcome> out;
    for (const auto& e : events) {
      const std::string key = e.DedupKey();
      sqlite3_reset(insert_);
      sqlite3_bind_text(insert_, 1, key.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(insert_, 2, e.object_type.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(insert_, 3, e.object_id);
      sqlite3_bind_text(insert_, 4, e.aspect_type.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(insert_, 5, e.owner_id);
      sqlite3_bind_int64(insert_, 6, e.subscription_id);
      sqlite3_bind_int64(insert_, 7, e.event_time);
      sqlite3_bind_text(insert_, 8, e.updates_json.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64(insert_, 9, now);
      sqlite3_bind_int64(insert_, 10, now);
      if (sqlite3_step(insert_) != SQLITE_DONE) {
        Exec("ROLLBACK");
        return Fail(ErrorCode::kIo, sqlite3_errmsg(db_));
      }
      out.push_back(sqlite3_changes(db_) == 1 ? ports::EnqueueOutcome::kQueued : ports::EnqueueOutcome::kDuplicate);
    }
    Exec("COMMIT");
    return out;
  }
  Result<std::vector<ports::QueuedEvent>> Claim(int, int64_t, int64_t) override { return NotHere(); }
  Status Ack(std::span<const int64_t>) override { return NotHere(); }
  Status Retry(int64_t, const std::string&, int64_t) override { return NotHere(); }
  Status DeadLetter(int64_t, const std::string&, int64_t) override { return NotHere(); }
  Result<std::vector<ports::QueuedEvent>> ListEvents(bool, int) override { return NotHere(); }
  Result<int64_t> Redrive(std::optional<int64_t>, int64_t) override { return NotHere(); }
  Result<int64_t> PendingCount() override {
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db_, "SELECT count(*) FROM event_queue", -1, &s, nullptr);
    sqlite3_step(s);
    const int64_t n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return n;
  }

 private:
  static std::unexpected<Error> NotHere() { return Fail(ErrorCode::kInternal, "not in the bench queue"); }
  void Exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) Die(sql);
  }
  [[noreturn]] void Die(const char* what) {
    std::fprintf(stderr, "sqlite %s: %s\n", what, db_ ? sqlite3_errmsg(db_) : "");
    std::exit(1);
  }
  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
};

// ---- load generators -------------------------------------------------------

struct LoadResult {
  double requests_per_s = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  long long requests = 0, errors = 0;
};

std::string EventBody(int64_t object_id, int64_t event_time) {
  return R"({"aspect_type":"create","event_time":)" + std::to_string(event_time) + R"(,"object_id":)" +
         std::to_string(object_id) + R"(,"object_type":"activity","owner_id":)" + std::to_string(kOwnerId) +
         R"(,"subscription_id":)" + std::to_string(kSubscriptionId) + R"(,"updates":{}})";
}

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

// One keep-alive connection per thread; `id_base` keeps events of separate
// runs distinct.
LoadResult RunCurl(const std::string& url, bool post, int connections, int seconds, int64_t id_base) {
  std::vector<std::vector<double>> latencies(static_cast<size_t>(connections));
  std::atomic<long long> errors{0};
  const auto end = Steady::now() + std::chrono::seconds(seconds);
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      CURL* h = curl_easy_init();
      curl_easy_setopt(h, CURLOPT_URL, url.c_str());
      curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
      curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
      curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Discard);
      for (int64_t i = 0; Steady::now() < end; ++i) {
        const std::string body = EventBody(id_base + int64_t{c} * 1'000'000'000 + i + 1, 1'700'000'000);
        if (post) {
          curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
          curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
        }
        const auto t0 = Steady::now();
        long status = 0;
        if (curl_easy_perform(h) != CURLE_OK) ++errors;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200) ++errors;
        latencies[static_cast<size_t>(c)].push_back(std::chrono::duration<double, std::milli>(Steady::now() - t0).count());
      }
      curl_easy_cleanup(h);
    });
  }
  for (auto& t : threads) t.join();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  LoadResult r;
  if (all.empty()) return r;
  r.requests = static_cast<long long>(all.size());
  r.errors = errors;
  r.requests_per_s = static_cast<double>(all.size()) / seconds;
  r.p50_ms = all[all.size() / 2];
  r.p99_ms = all[all.size() * 99 / 100];
  r.max_ms = all.back();
  return r;
}

// wrk prints one machine-readable line from done(): requests, non-2xx and
// socket errors, duration (µs), p50, p99, max (µs).
const char* kWrkScript = R"LUA(
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end
-- Without a request() function wrk sends its one prebuilt GET (cheapest).
if body_post then
  local n = 0
  request = function()
    n = n + 1
    local body = string.format('{"aspect_type":"create","event_time":1700000000,"object_id":%d,' ..
      '"object_type":"activity","owner_id":%d,"subscription_id":%d,"updates":{}}',
      id_base + tid * 1000000000 + n, owner_id, subscription_id)
    return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
  end
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKRESULT %d %d %d %d %d %d\n", summary.requests,
    e.status + e.connect + e.read + e.write + e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.max))
end
)LUA";

LoadResult RunWrk(const std::string& url, bool post, int connections, int seconds, int64_t id_base) {
  const std::string script = std::filesystem::temp_directory_path() / ("webhook_bench_" + std::to_string(getpid()) + ".lua");
  {
    std::ofstream out(script);
    if (post) {
      out << "body_post = true\nid_base = " << id_base << "\nowner_id = " << kOwnerId
          << "\nsubscription_id = " << kSubscriptionId << "\n";
    }
    out << kWrkScript;
  }
  const int threads = std::min(connections, 2);
  const std::string cmd = "/usr/bin/wrk -t" + std::to_string(threads) + " -c" + std::to_string(connections) + " -d" +
                          std::to_string(seconds) + "s -s " + script + " " + url + " 2>&1";
  LoadResult r;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  char line[512];
  while (pipe != nullptr && std::fgets(line, sizeof line, pipe) != nullptr) {
    double requests = 0, errors = 0, duration_us = 0, p50 = 0, p99 = 0, max = 0;
    if (std::sscanf(line, "WRKRESULT %lf %lf %lf %lf %lf %lf", &requests, &errors, &duration_us, &p50, &p99, &max) ==
        6) {
      r = {requests * 1e6 / std::max(duration_us, 1.0), p50 / 1e3, p99 / 1e3, max / 1e3,
           static_cast<long long>(requests), static_cast<long long>(errors)};
    }
  }
  if (pipe != nullptr) ::pclose(pipe);
  std::filesystem::remove(script);
  return r;
}

void Print(const char* name, const LoadResult& r) {
  std::printf("%-22s %10.0f req/s   p50 %6.3f ms   p99 %6.3f ms   max %7.3f ms   (%lld requests, %lld errors)\n", name,
              r.requests_per_s, r.p50_ms, r.p99_ms, r.max_ms, r.requests, r.errors);
}

// The queue's commit alone: EnqueueBatch of `batch` new events in a loop on
// one thread, no HTTP. Shows what one durable commit costs on this disk.
void RunDirect(ports::EventQueue& queue, size_t batch, int seconds) {
  std::vector<core::WebhookEvent> events(batch);
  std::vector<double> latencies;
  int64_t next_id = 1;
  const auto start = Steady::now();
  const auto end = start + std::chrono::seconds(seconds);
  long long failures = 0;
  while (Steady::now() < end) {
    for (auto& e : events) {
      e.object_type = "activity";
      e.aspect_type = "create";
      e.object_id = next_id++;
      e.owner_id = kOwnerId;
      e.subscription_id = kSubscriptionId;
      e.event_time = 1'700'000'000;
    }
    const auto t0 = Steady::now();
    if (!queue.EnqueueBatch(events, 1'700'000'000)) ++failures;
    latencies.push_back(std::chrono::duration<double, std::milli>(Steady::now() - t0).count());
  }
  const double elapsed = std::chrono::duration<double>(Steady::now() - start).count();
  std::sort(latencies.begin(), latencies.end());
  const auto n = latencies.size();
  std::printf("direct batch=%zu: %8.0f commits/s %8.0f events/s   commit p50 %6.3f ms p99 %6.3f ms (%lld failures)\n",
              batch, static_cast<double>(n) / elapsed, static_cast<double>(n * batch) / elapsed, latencies[n / 2],
              latencies[n * 99 / 100], failures);
}

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--seconds") a.seconds = std::stoi(v);
    else if (k == "--connections") a.connections = std::stoi(v);
    else if (k == "--workers") a.workers = std::stoi(v);
    else if (k == "--queue") a.queue = v;
    else if (k == "--max-batch") a.max_batch = std::stoul(v);
    else if (k == "--commit-latency-us") a.commit_latency_us = std::stoi(v);
    else if (k == "--client") a.client = v;
    else if (k == "--db") a.db = v;
    else if (k == "--page-size") a.page_size = std::stoi(v);
    else if (k == "--direct") a.direct = std::stoul(v);
    else if (k == "--max-gather-us") a.max_gather_us = std::stoi(v);
    else {
      std::fprintf(stderr, "unknown option %s (see the comment at the top of the file)\n", k.c_str());
      std::exit(2);
    }
  }
  return a;
}

std::unique_ptr<ports::EventQueue> MakeQueue(const Args& a, std::filesystem::path& db_dir) {
  if (a.queue == "store") {
    // The store's own queue (ports::Store is an EventQueue): what serve uses.
    db_dir = std::filesystem::temp_directory_path() / ("webhook_bench_" + std::to_string(getpid()));
    std::filesystem::create_directories(db_dir);
    auto store = adapters::sqlite::SqliteStore::Open((db_dir / "store.db").string(), core::SportCategories::Default());
    if (!store) {
      std::fprintf(stderr, "cannot open the store: %s\n", store.error().message.c_str());
      std::exit(1);
    }
    return std::unique_ptr<ports::EventQueue>(std::move(*store));
  }
  if (a.queue == "sqlite") {
    std::string path = a.db;
    if (path.empty()) {
      db_dir = std::filesystem::temp_directory_path() / ("webhook_bench_" + std::to_string(getpid()));
      std::filesystem::create_directories(db_dir);
      path = db_dir / "queue.db";
    }
    return std::make_unique<BenchSqliteQueue>(path, a.page_size);
  }
  auto memory = std::make_unique<fakes::InMemoryEventQueue>();
  memory->SetCommitLatency(std::chrono::microseconds(a.commit_latency_us));
  return memory;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = Parse(argc, argv);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::filesystem::path db_dir;
  auto queue = MakeQueue(args, db_dir);
  if (args.direct > 0) {
    RunDirect(*queue, args.direct, args.seconds);
    queue.reset();
    if (!db_dir.empty()) std::filesystem::remove_all(db_dir);
    return 0;
  }
  WallClock clock;
  app::IntakeOptions intake_options;
  intake_options.max_batch = args.max_batch;
  if (args.max_gather_us >= 0) intake_options.max_gather = std::chrono::microseconds(args.max_gather_us);
  app::Intake intake(*queue, clock, intake_options);
  http::webhook::WebhookContext context;
  context.options.path = kPath;
  context.options.verify_token = "bench";
  context.options.subscription_id = kSubscriptionId;
  context.intake = &intake;
  context.athlete_filter = [](int64_t owner) -> Result<bool> { return owner == kOwnerId; };
  context.log = [](std::string_view line) { std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data()); };
  auto router = std::make_shared<http::Router>();
  http::webhook::RegisterWebhookRoutes(*router, context);
  // The same POSTs answered without parsing or queueing: the HTTP layer's
  // and the load generator's share of the cost.
  router->Add("POST", "/bench/null", [](const http::Request&) { return http::Response::Json(200, "{}"); });
  http::ServerOptions options;
  options.worker_threads = args.workers;
  http::Server server(options, router);
  if (auto started = server.Start(); !started) {
    std::fprintf(stderr, "%s\n", started.error().message.c_str());
    return 1;
  }
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  auto run = args.client == "wrk" ? &RunWrk : &RunCurl;
  std::printf(
      "queue=%s max_batch=%zu commit_latency_us=%d client=%s connections=%d workers=%d seconds=%d "
      "max_gather_us=%lld\n",
      args.queue.c_str(), args.max_batch, args.commit_latency_us, args.client.c_str(), args.connections, args.workers,
      args.seconds, static_cast<long long>(intake_options.max_gather.count()));
  (void)run(base + kPath, true, args.connections, 1, 9'000'000'000'000);  // warm-up
  const auto before = intake.Stats();
  const LoadResult events = run(base + kPath, true, args.connections, args.seconds, 0);
  const auto after = intake.Stats();
  const LoadResult null_post = run(base + "/bench/null", true, args.connections, args.seconds, 0);
  const LoadResult health = run(base + "/healthz", false, args.connections, args.seconds, 0);
  server.Stop();
  Print("POST /webhook (events)", events);
  Print("POST /bench/null", null_post);
  Print("GET /healthz (ceiling)", health);
  const uint64_t batches = after.batches - before.batches;
  const uint64_t committed = after.events_committed - before.events_committed;
  std::printf(
      "commits: %llu for %llu events (mean batch %.1f, largest %zu); gathers %llu (%llu timed out); queue failures "
      "%llu\n",
      static_cast<unsigned long long>(batches), static_cast<unsigned long long>(committed),
      batches ? static_cast<double>(committed) / static_cast<double>(batches) : 0.0, after.largest_batch,
      static_cast<unsigned long long>(after.gathers - before.gathers),
      static_cast<unsigned long long>(after.gather_timeouts - before.gather_timeouts),
      static_cast<unsigned long long>(after.events_failed));
  intake.Shutdown();
  queue.reset();
  if (!db_dir.empty()) std::filesystem::remove_all(db_dir);
  return 0;
}
