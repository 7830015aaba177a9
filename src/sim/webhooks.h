// Outgoing HTTP of strava-sim: the subscription validation GET and the
// webhook event deliveries, which run on a thread of their own with Strava's
// retry policy (no 200 within the timeout -> retried, `attempts` in all).
// Internal to the sim module.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/result.h"
#include "sim/simulator.h"

namespace dl::sim {

// "http://host:port/path?q" -> {"http://host:port", "/path?q"}.
struct UrlParts {
  std::string origin;
  std::string target;
};
Result<UrlParts> SplitUrl(const std::string& url);

// GET callback?hub.mode=subscribe&hub.challenge=C&hub.verify_token=T and
// require a 200 with a JSON body whose "hub.challenge" is C, within
// timeout_ms. The error message never contains the verify token.
Status ValidateCallback(const std::string& callback_url, const std::string& verify_token, const std::string& challenge,
                        int timeout_ms);

class WebhookDispatcher {
 public:
  explicit WebhookDispatcher(WebhookOptions options);
  ~WebhookDispatcher();
  WebhookDispatcher(const WebhookDispatcher&) = delete;
  WebhookDispatcher& operator=(const WebhookDispatcher&) = delete;

  void Start();
  // Drops what is not delivered yet; waits for an attempt in flight (bounded
  // by the timeout).
  void Stop();
  // Queues a POST of `body` to `url`; returns the delivery id. Thread-safe.
  int64_t Enqueue(const std::string& url, const std::string& body);
  std::vector<WebhookDelivery> Log() const;

 private:
  struct Job {
    size_t log_index;
    int64_t due_us;
  };
  void Run();
  WebhookAttempt Attempt(const std::string& url, const std::string& body) const;

  WebhookOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;  // due times are non-decreasing only per delivery; Run() picks the earliest
  std::vector<WebhookDelivery> log_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace dl::sim
