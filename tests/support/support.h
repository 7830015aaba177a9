// Test support: temporary directories, child processes of our own binaries,
// a small libcurl client, and waiting on conditions (never fixed sleeps).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dl::testing {

// A directory removed with its contents when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Where the built binaries are: $DL_BIN_DIR, else the directory of the test
// executable (CMake puts them all in build/<preset>/bin).
std::filesystem::path BinDir();
std::filesystem::path SourceDir();

// A child process with stdout and stderr captured to files.
class Process {
 public:
  Process(std::vector<std::string> argv, std::map<std::string, std::string> env_overrides = {},
          std::filesystem::path workdir = {});
  ~Process();  // SIGKILLs a child still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  // Waits for exit; nullopt on timeout. Returns the exit code (128+signal when killed).
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  bool Running();
  void Signal(int sig);
  std::string Stdout() const;
  std::string Stderr() const;
  // Polls stdout for a line starting with `prefix`; returns the rest of it.
  std::optional<std::string> WaitForLine(const std::string& prefix, std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::filesystem::path out_, err_;
  TempDir files_;
};

struct HttpResult {
  long status = 0;  // 0 when no response
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string error;
};

HttpResult HttpRequest(const std::string& method, const std::string& url, const std::string& body = "",
                       const std::vector<std::string>& headers = {}, long timeout_ms = 10000);

// Polls `condition` every 20 ms until true or the timeout; returns its last value.
bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

// A running strava-sim binary: started with `args` after --listen 127.0.0.1:0.
class SimProcess {
 public:
  explicit SimProcess(std::vector<std::string> args);
  const std::string& url() const { return url_; }  // http://127.0.0.1:PORT
  Process& process() { return *process_; }

 private:
  std::unique_ptr<Process> process_;
  std::string url_;
};

// Runs a query against an SQLite file with the sqlite3 library; rows as text.
std::vector<std::vector<std::string>> SqliteQuery(const std::filesystem::path& db, const std::string& sql);

std::string ReadFileText(const std::filesystem::path& p);

}  // namespace dl::testing
