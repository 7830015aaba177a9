// main() of postgres_store_test. Besides running the tests it has three
// modes used by CTest and by the tests themselves:
//   --dl-pg-start STATE_FILE   start a server for a whole `ctest` run (fixture setup)
//   --dl-pg-stop STATE_FILE    stop it (fixture cleanup)
//   --dl-child MODE ARGS...    a second process of a multi-process test
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <random>

#include "pg_test_server.h"
#include "postgres_test_env.h"

namespace dl::adapters::postgres::testing {

int RunChild(int argc, char** argv);  // postgres_store_test.cc

namespace {

std::string g_admin_url;             // set once in PgEnvironment::SetUp, read-only afterwards
std::string g_server_error;          // why there is no server; set once in PgEnvironment::SetUp
std::optional<Server> g_own_server;  // when this process started its own
std::mutex g_databases_mu;
std::vector<std::string> g_databases;  // created by this process; guarded by g_databases_mu

Result<std::string> FindServer() {
  if (const char* url = std::getenv("DL_TEST_PG_URL"); url != nullptr && *url != '\0') return std::string(url);
  if (const char* state = std::getenv("DL_TEST_PG_STATE"); state != nullptr && *state != '\0') {
    auto server = ReadState(state);
    if (!server) return std::unexpected(server.error());
    return server->admin_url;
  }
  auto server = StartServer();
  if (!server) return std::unexpected(server.error());
  g_own_server = *server;
  return server->admin_url;
}

class PgEnvironment : public ::testing::Environment {
 public:
  // A server that cannot be found or started is recorded, not asserted:
  // every test then fails with the reason (a failed global set-up would make
  // GoogleTest report the tests as skipped).
  void SetUp() override {
    auto url = FindServer();
    if (!url) {
      g_server_error = url.error().message;
      ADD_FAILURE() << g_server_error;
      return;
    }
    g_admin_url = *url;
    AdminSql admin(g_admin_url);
    if (!admin.ok()) {
      g_server_error = "cannot reach the PostgreSQL test server " + g_admin_url + ": " + admin.error();
      ADD_FAILURE() << g_server_error;
    }
  }

  void TearDown() override {
    if (g_own_server) {
      EXPECT_TRUE(StopServer(*g_own_server).has_value());
      return;
    }
    if (g_admin_url.empty()) return;
    AdminSql admin(g_admin_url);
    std::lock_guard lock(g_databases_mu);
    for (const auto& db : g_databases) admin.Exec("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
  }
};

int StartFixture(const char* state_file) {
  if (const char* url = std::getenv("DL_TEST_PG_URL"); url != nullptr && *url != '\0') return 0;  // given
  if (auto old = ReadState(state_file)) (void)StopServer(*old);  // a previous run's leftover
  auto server = StartServer();
  if (!server) {
    std::fprintf(stderr, "postgres_server_start: %s\n", server.error().message.c_str());
    return 1;
  }
  if (auto s = WriteState(state_file, *server); !s) {
    std::fprintf(stderr, "postgres_server_start: %s\n", s.error().message.c_str());
    (void)StopServer(*server);
    return 1;
  }
  std::printf("PostgreSQL test server at %s (%s)\n", server->admin_url.c_str(), server->dir.c_str());
  return 0;
}

int StopFixture(const char* state_file) {
  auto server = ReadState(state_file);
  if (!server) return 0;  // nothing was started (DL_TEST_PG_URL given)
  auto s = StopServer(*server);
  std::filesystem::remove(state_file);
  if (!s) {
    std::fprintf(stderr, "postgres_server_stop: %s\n", s.error().message.c_str());
    return 1;
  }
  return 0;
}

}  // namespace

const std::string& AdminUrl() { return g_admin_url; }

const std::string& ServerError() { return g_server_error; }

Result<std::string> CreateDatabase() {
  static std::atomic<int> counter{0};
  thread_local std::mt19937_64 rng(std::random_device{}());
  const std::string name =
      "dl_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + std::to_string(rng() % 1000000);
  if (!g_server_error.empty()) return Fail(ErrorCode::kIo, g_server_error);
  AdminSql admin(g_admin_url);
  if (!admin.ok()) return Fail(ErrorCode::kIo, "admin connection failed: " + admin.error());
  admin.Exec("CREATE DATABASE " + name + " TEMPLATE template0 ENCODING 'UTF8'");
  {
    std::lock_guard lock(g_databases_mu);
    g_databases.push_back(name);
  }
  return WithDatabase(g_admin_url, name);
}

}  // namespace dl::adapters::postgres::testing

int main(int argc, char** argv) {
  namespace t = dl::adapters::postgres::testing;
  if (argc == 3 && std::strcmp(argv[1], "--dl-pg-start") == 0) return t::StartFixture(argv[2]);
  if (argc == 3 && std::strcmp(argv[1], "--dl-pg-stop") == 0) return t::StopFixture(argv[2]);
  if (argc >= 2 && std::strcmp(argv[1], "--dl-child") == 0) return t::RunChild(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new t::PgEnvironment);
  return RUN_ALL_TESTS();
}
