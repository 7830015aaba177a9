// A throwaway PostgreSQL server for the tests: initdb into a temporary
// folder, pg_ctl start on a free loopback port (socket in that folder,
// trust authentication, fsync off), stopped and removed afterwards. Run as
// the current user, or as `postgres` through runuser when the tests run as
// root (initdb refuses root).
//
// Where the tests find their server, in order:
//   1. DL_TEST_PG_URL: an admin URL (scripts/run-tests.sh starts one server
//      for the whole run and exports it);
//   2. DL_TEST_PG_STATE: a state file written by the CTest fixture test
//      `postgres_server_start` (one server for every test process of a
//      `ctest` run, stopped by `postgres_server_stop`);
//   3. otherwise the test executable starts its own server for its run.
// Missing PostgreSQL binaries are a failure with a plain message, never a skip.
#pragma once

#include <string>
#include <vector>

#include "core/result.h"

namespace dl::adapters::postgres::testing {

struct Server {
  std::string admin_url;  // postgresql://user@127.0.0.1:port/postgres
  std::string dir;        // temporary folder: data/, socket, logs
  bool as_postgres = false;
};

// initdb + pg_ctl start (a few attempts on different free ports).
Result<Server> StartServer();
// pg_ctl stop -m immediate, then removes the folder.
Status StopServer(const Server& server);

// The fixture's state file.
Status WriteState(const std::string& path, const Server& server);
Result<Server> ReadState(const std::string& path);

// `url` with its database name replaced.
std::string WithDatabase(const std::string& url, const std::string& database);

// Runs a command and waits for it; the exit code, or -1 when it could not start.
int RunAndWait(const std::vector<std::string>& argv);

// Minimal admin access (text results) for what the port does not expose.
class AdminSql {
 public:
  explicit AdminSql(const std::string& url);
  ~AdminSql();
  AdminSql(const AdminSql&) = delete;
  AdminSql& operator=(const AdminSql&) = delete;
  bool ok() const;
  const std::string& error() const { return error_; }
  // The first column of every row ("NULL" for null); records a test failure
  // (ADD_FAILURE) when the statement fails.
  std::vector<std::string> Column(const std::string& sql);
  void Exec(const std::string& sql) { (void)Column(sql); }

 private:
  void* conn_ = nullptr;  // PGconn
  std::string error_;
};

}  // namespace dl::adapters::postgres::testing
