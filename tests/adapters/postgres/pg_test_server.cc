#include "pg_test_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

extern char** environ;

namespace dl::adapters::postgres::testing {
namespace {

namespace fs = std::filesystem;

// initdb and pg_ctl: DL_PG_BIN, then Debian's versioned folders, then PATH.
Result<std::string> FindBinDir() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("DL_PG_BIN")) candidates.emplace_back(env);
  for (int v = 17; v >= 12; --v) candidates.push_back("/usr/lib/postgresql/" + std::to_string(v) + "/bin");
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss(path);
    for (std::string dir; std::getline(ss, dir, ':');) candidates.push_back(dir);
  }
  for (const auto& dir : candidates) {
    if (::access((dir + "/initdb").c_str(), X_OK) == 0 && ::access((dir + "/pg_ctl").c_str(), X_OK) == 0) return dir;
  }
  return Fail(ErrorCode::kNotFound,
              "PostgreSQL server binaries (initdb, pg_ctl) not found in DL_PG_BIN, /usr/lib/postgresql/*/bin or "
              "PATH: install postgresql-15 (scripts/bootstrap.sh does) or point DL_TEST_PG_URL at a server");
}

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = -1;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  if (fd >= 0) ::close(fd);
  return port;
}

std::string Tail(const std::string& path) {
  std::ifstream in(path);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return all.size() > 1500 ? all.substr(all.size() - 1500) : all;
}

// Runs argv (as `postgres` when asked) with stdout and stderr appended to `log`.
int RunLogged(std::vector<std::string> argv, bool as_postgres, const std::string& log) {
  if (as_postgres) argv.insert(argv.begin(), {"runuser", "-u", "postgres", "--"});
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Result<Server> InitCluster(const std::string& bin) {
  Server s;
  s.as_postgres = ::geteuid() == 0;
  std::string user = "postgres";
  if (!s.as_postgres) {
    const passwd* pw = ::getpwuid(::geteuid());
    if (pw == nullptr) return Fail(ErrorCode::kIo, "cannot find the current user's name");
    user = pw->pw_name;
  }
  std::string pattern = (fs::temp_directory_path() / "dl-pg-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) return Fail(ErrorCode::kIo, "mkdtemp failed");
  s.dir = pattern;
  if (s.as_postgres) {
    const passwd* pg = ::getpwnam("postgres");
    if (pg == nullptr || ::chown(s.dir.c_str(), pg->pw_uid, pg->pw_gid) != 0) {
      fs::remove_all(s.dir);
      return Fail(ErrorCode::kIo,
                  "running as root needs a `postgres` user to run the server as (apt's postgresql "
                  "package creates it)");
    }
  }
  const std::string log = s.dir + "/initdb.log";
  if (RunLogged(
          {bin + "/initdb", "-D", s.dir + "/data", "-U", user, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"},
          s.as_postgres, log) != 0) {
    std::string why = Tail(log);
    fs::remove_all(s.dir);
    return Fail(ErrorCode::kIo, "initdb failed: " + why);
  }
  s.admin_url = user;  // completed with the port by StartServer
  return s;
}

}  // namespace

Result<Server> StartServer() {
  auto bin = FindBinDir();
  if (!bin) return std::unexpected(bin.error());
  auto server = InitCluster(*bin);
  if (!server) return server;
  const std::string user = server->admin_url;
  const std::string log = server->dir + "/server.log";
  for (int attempt = 0; attempt < 4; ++attempt) {
    const int port = FreePort();
    const std::string options = "-p " + std::to_string(port) + " -k " + server->dir +
                                " -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
                                "-c full_page_writes=off -c max_connections=300";
    if (RunLogged({*bin + "/pg_ctl", "-D", server->dir + "/data", "-o", options, "-l", log, "-w", "-t", "60", "start"},
                  server->as_postgres, server->dir + "/pg_ctl.log") == 0) {
      server->admin_url = "postgresql://" + user + "@127.0.0.1:" + std::to_string(port) + "/postgres";
      return server;
    }
  }
  std::string why = Tail(log) + Tail(server->dir + "/pg_ctl.log");
  fs::remove_all(server->dir);
  return Fail(ErrorCode::kIo, "pg_ctl start failed: " + why);
}

Status StopServer(const Server& server) {
  auto bin = FindBinDir();
  Status result = Ok();
  if (bin && fs::exists(server.dir + "/data/postmaster.pid")) {
    if (RunLogged({*bin + "/pg_ctl", "-D", server.dir + "/data", "-m", "immediate", "-w", "stop"}, server.as_postgres,
                  server.dir + "/pg_ctl.log") != 0) {
      result = Fail(ErrorCode::kIo, "pg_ctl stop failed: " + Tail(server.dir + "/pg_ctl.log"));
    }
  }
  std::error_code ignored;
  fs::remove_all(server.dir, ignored);
  return result;
}

Status WriteState(const std::string& path, const Server& server) {
  std::ofstream out(path, std::ios::trunc);
  out << server.admin_url << '\n' << server.dir << '\n' << (server.as_postgres ? 1 : 0) << '\n';
  out.close();
  if (!out) return Fail(ErrorCode::kIo, "cannot write " + path);
  return Ok();
}

Result<Server> ReadState(const std::string& path) {
  std::ifstream in(path);
  Server s;
  int as_postgres = 0;
  if (!std::getline(in, s.admin_url) || !std::getline(in, s.dir) || !(in >> as_postgres)) {
    return Fail(ErrorCode::kNotFound, "no PostgreSQL test server recorded in " + path +
                                          " (the CTest fixture test postgres_server_start did not run or failed)");
  }
  s.as_postgres = as_postgres != 0;
  return s;
}

std::string WithDatabase(const std::string& url, const std::string& database) {
  const size_t scheme = url.find("://");
  const size_t start = scheme == std::string::npos ? 0 : scheme + 3;
  const size_t query = url.find('?', start);
  const size_t slash = url.find('/', start);
  const size_t path_end = query == std::string::npos ? url.size() : query;
  if (slash == std::string::npos || slash > path_end)
    return url.substr(0, path_end) + "/" + database + url.substr(path_end);
  return url.substr(0, slash + 1) + database + url.substr(path_end);
}

int RunAndWait(const std::vector<std::string>& argv) {
  std::vector<std::string> copy = argv;
  std::vector<char*> args;
  for (auto& a : copy) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = 0;
  if (::posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return -1;
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

AdminSql::AdminSql(const std::string& url) {
  PGconn* conn = PQconnectdb(url.c_str());
  conn_ = conn;
  if (PQstatus(conn) != CONNECTION_OK) error_ = PQerrorMessage(conn);
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
}

AdminSql::~AdminSql() { PQfinish(static_cast<PGconn*>(conn_)); }

bool AdminSql::ok() const { return error_.empty(); }

std::vector<std::string> AdminSql::Column(const std::string& sql) {
  std::vector<std::string> out;
  PGresult* r = PQexec(static_cast<PGconn*>(conn_), sql.c_str());
  const ExecStatusType status = PQresultStatus(r);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    ADD_FAILURE() << sql << ": " << PQresultErrorMessage(r);
  } else {
    for (int i = 0; i < PQntuples(r); ++i) out.emplace_back(PQgetisnull(r, i, 0) ? "NULL" : PQgetvalue(r, i, 0));
  }
  PQclear(r);
  return out;
}

}  // namespace dl::adapters::postgres::testing
