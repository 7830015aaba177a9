#include "emulator.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace dl::adapters::pubsub::testing {
namespace {

// The kernel picks a free port; there is a small window before gcloud binds
// it, acceptable for tests.
int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = -1;
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  if (fd >= 0) close(fd);
  return port;
}

bool Answers(const std::string& url) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return false;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 1000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  const bool ok = curl_easy_perform(curl) == CURLE_OK;
  curl_easy_cleanup(curl);
  return ok;
}

bool GcloudOnPath() { return std::system("command -v gcloud >/dev/null 2>&1") == 0; }

std::string Tail(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string all = text.str();
  return all.size() > 1500 ? all.substr(all.size() - 1500) : all;
}

}  // namespace

std::string Emulator::Start() {
  if (!endpoint_.empty()) return "";
  const char* host = std::getenv("PUBSUB_EMULATOR_HOST");
  if (host != nullptr && *host != '\0') {
    endpoint_ = std::string("http://") + host;
    return "";
  }
  if (!GcloudOnPath()) {
    return "gcloud is not on PATH: install the Google Cloud CLI (with the pubsub emulator component) "
           "or set PUBSUB_EMULATOR_HOST to a running emulator";
  }
  const int port = FreeLoopbackPort();
  if (port < 0) return "no free loopback port";
  const std::string host_port = "--host-port=127.0.0.1:" + std::to_string(port);
  log_path_ = "/tmp/dl_pubsub_emulator_" + std::to_string(getpid()) + ".log";
  const pid_t pid = fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    setpgid(0, 0);
    const int log = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (log >= 0) {
      dup2(log, STDOUT_FILENO);
      dup2(log, STDERR_FILENO);
    }
    execlp("gcloud", "gcloud", "beta", "emulators", "pubsub", "start", host_port.c_str(), "--project=dl-test",
           static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(pid, pid);  // also from the parent, so Stop() works whoever runs first
  pgid_ = pid;
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (std::chrono::steady_clock::now() < deadline) {
    if (Answers(url + "/")) {
      endpoint_ = url;
      return "";
    }
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      pgid_ = -1;
      return "the emulator exited early; its log:\n" + Tail(log_path_);
    }
    // Polling a readiness condition with a deadline, not a timed wait.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  Stop();
  return "the emulator did not answer within 90 s; its log:\n" + Tail(log_path_);
}

void Emulator::Stop() {
  if (pgid_ > 0) {
    kill(-pgid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int status = 0;
    while (waitpid(pgid_, &status, WNOHANG) == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    kill(-pgid_, SIGKILL);  // Java may outlive gcloud's python wrapper
    waitpid(pgid_, &status, WNOHANG);
    pgid_ = -1;
    if (!log_path_.empty()) unlink(log_path_.c_str());
  }
  endpoint_.clear();
}

Emulator& SharedEmulator() {
  static Emulator emulator;
  return emulator;
}

namespace {
class StopSharedEmulator : public ::testing::Environment {
 public:
  void TearDown() override { SharedEmulator().Stop(); }
};
[[maybe_unused]] ::testing::Environment* const kStopSharedEmulator =
    ::testing::AddGlobalTestEnvironment(new StopSharedEmulator);
}  // namespace

std::string UniqueId(const std::string& stem) {
  static std::atomic<int> counter{0};
  return stem + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

}  // namespace dl::adapters::pubsub::testing
