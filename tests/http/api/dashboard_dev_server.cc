// A test-only server for developing the dashboard and running its browser
// test without the rest of `desirelines serve`: the API routes over a fresh
// SQLite store filled with a few hundred synthetic activities (this year and
// the two before, through today), plus the legacy yearly files.
//
//   dashboard_dev_server [--port N] [--token T] [--seed S] [--cors ORIGIN]
//
// Prints "listening on http://127.0.0.1:PORT" on stdout, then serves until
// SIGINT or SIGTERM. The store lives in a temporary directory removed at exit.
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "adapters/files/year_files.h"
#include "adapters/sqlite/sqlite_store.h"
#include "adapters/system/system_clock.h"
#include "core/sports.h"
#include "http/api/api.h"
#include "http/server.h"
#include "support.h"
#include "synthetic_activities.h"

namespace {

constexpr int64_t kAthlete = 4242;

struct Args {
  uint16_t port = 0;
  std::string token = "dev-token";
  uint32_t seed = 7;
  std::vector<std::string> cors;
};

Args ParseArgs(int argc, char** argv) {
  Args args;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--port") args.port = static_cast<uint16_t>(std::stoi(value));
    else if (flag == "--token") args.token = value;
    else if (flag == "--seed") args.seed = static_cast<uint32_t>(std::stoul(value));
    else if (flag == "--cors") args.cors.push_back(value);
    else throw std::invalid_argument("unknown flag " + flag);
  }
  return args;
}

dl::Status Fill(dl::adapters::sqlite::SqliteStore& store, const std::filesystem::path& dir, dl::core::Date today,
                uint32_t seed) {
  const int year = static_cast<int>(today.year());
  auto activities = dl::testing::SyntheticActivities(kAthlete, year - 2, today, seed);
  dl::ports::UpsertOptions options;
  options.now_epoch_s = 1;
  if (auto r = store.UpsertActivities(activities, options); !r) return std::unexpected(r.error());
  for (int y = year - 2; y <= year; ++y) {
    auto days = store.DailyForYear(kAthlete, y, "cycling");
    if (!days) return std::unexpected(days.error());
    dl::core::Date dec31{std::chrono::year{y}, std::chrono::December, std::chrono::day{31}};
    auto through = y == year ? today : dec31;
    if (auto w = dl::adapters::files::WriteYearFiles(dir, y, "cycling", *days, through, true); !w) return w;
  }
  std::cerr << "filled the store with " << activities.size() << " activities\n";
  return dl::Ok();
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = ParseArgs(argc, argv);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts

  dl::testing::TempDir dir;
  dl::adapters::system::SystemClock clock;
  const auto& categories = dl::core::SportCategories::Default();
  auto store = dl::adapters::sqlite::SqliteStore::Open((dir.path() / "desirelines.db").string(), categories);
  if (!store) {
    std::cerr << "store: " << store.error().message << "\n";
    return 1;
  }
  if (auto filled = Fill(**store, dir.path(), dl::http::api::UtcDate(clock.Now()), args.seed); !filled) {
    std::cerr << "fill: " << filled.error().message << "\n";
    return 1;
  }
  dl::http::api::ApiContext context{**store, **store, categories, clock,
                                    [](const dl::http::Request&) -> dl::Result<int64_t> { return kAthlete; },
                                    nullptr, dl::http::api::ApiOptions{args.token, args.cors, dir.path()}};
  auto router = std::make_shared<dl::http::Router>();
  dl::http::api::RegisterApiRoutes(*router, context);
  dl::http::ServerOptions options;
  options.port = args.port;
  dl::http::Server server(options, router);
  if (auto started = server.Start(); !started) {
    std::cerr << "server: " << started.error().message << "\n";
    return 1;
  }
  std::cout << "listening on http://127.0.0.1:" << server.port() << std::endl;
  int sig = 0;
  sigwait(&signals, &sig);
  server.Stop();
  return 0;
}
