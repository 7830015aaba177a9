// Shared helpers of the simulator's contract tests: a running simulator, a
// webhook callback server on port 0, and condition polling (never fixed sleeps).
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "http_client.h"
#include "sim/simulator.h"

namespace dl::sim::testing {

using nlohmann::json;

// Polls `done` until it holds or `timeout` passes.
inline bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// A small generated athlete: 2 years x per_year activities.
inline SimOptions SmallOptions(int per_year = 20) {
  SimOptions o;
  o.threads = 8;
  o.generate.first_year = 2024;
  o.generate.last_year = 2025;
  o.generate.per_year = per_year;
  o.webhooks.timeout_ms = 400;
  o.webhooks.retry_delay_ms = 50;
  return o;
}

class RunningSim {
 public:
  explicit RunningSim(SimOptions options) : sim_(std::move(options)) {
    auto started = sim_.Start();
    if (!started) throw std::runtime_error("simulator did not start: " + started.error().message);
  }
  Simulator& sim() { return sim_; }
  std::string Url(const std::string& path) const { return sim_.base_url() + path; }
  // A token with read_all unless told otherwise.
  std::string Token(const std::string& scopes = "read,activity:read_all") { return sim_.MintAccessToken(scopes); }
  json GetJson(const std::string& path, const std::string& token) {
    const HttpResponse r = Get(Url(path), token);
    return json::parse(r.body, nullptr, false);
  }

 private:
  Simulator sim_;
};

// The subscriber side of webhooks: answers the validation GET and records
// event POSTs. Behaviour is configurable per test.
class CallbackServer {
 public:
  CallbackServer() {
    server_.Get("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      if (slow_validation_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(slow_validation_ms.load()));
      if (validation_status != 200) {
        res.status = validation_status;
        return;
      }
      verify_tokens_seen.fetch_add(req.get_param_value("hub.verify_token") == "VERIFY" ? 1 : 0);
      const std::string challenge = wrong_challenge ? "nope" : req.get_param_value("hub.challenge");
      res.set_content(json{{"hub.challenge", challenge}}.dump(), "application/json");
    });
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      const int attempt = ++posts;
      if (attempt <= fail_first) {
        if (fail_by_sleeping_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(fail_by_sleeping_ms));
        res.status = fail_by_sleeping_ms > 0 ? 200 : 500;  // a late 200 is a failure too
        return;
      }
      std::lock_guard lock(mu_);
      events_.push_back(json::parse(req.body, nullptr, false));
      res.status = 200;
    });
    server_.set_tcp_nodelay(true);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    WaitFor([this] { return server_.is_running(); });
  }
  ~CallbackServer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  std::vector<json> events() {
    std::lock_guard lock(mu_);
    return events_;
  }
  size_t event_count() {
    std::lock_guard lock(mu_);
    return events_.size();
  }

  std::atomic<int> validation_status{200};
  std::atomic<bool> wrong_challenge{false};
  std::atomic<int> slow_validation_ms{0};
  std::atomic<int> verify_tokens_seen{0};
  std::atomic<int> fail_first{0};           // the first N POSTs fail
  std::atomic<int> fail_by_sleeping_ms{0};  // ... by answering this late instead of 500
  std::atomic<int> posts{0};

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<json> events_;
};

inline std::string SubscribeForm(const SimOptions& o, const std::string& callback) {
  return "client_id=" + std::to_string(o.client_id) + "&client_secret=" + o.client_secret +
         "&callback_url=" + httplib::detail::encode_query_param(callback) + "&verify_token=VERIFY";
}

}  // namespace dl::sim::testing
