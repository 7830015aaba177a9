#include "sim/webhooks.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

namespace dl::sim {
namespace {

int64_t SteadyNowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void ApplyTimeouts(httplib::Client& client, int timeout_ms) {
  const auto t = std::chrono::milliseconds(timeout_ms);
  client.set_connection_timeout(t);
  client.set_read_timeout(t);
  client.set_write_timeout(t);
  client.set_tcp_nodelay(true);
  client.set_keep_alive(false);
}

}  // namespace

Result<UrlParts> SplitUrl(const std::string& url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos ||
      (url.compare(0, scheme_end, "http") != 0 && url.compare(0, scheme_end, "https") != 0)) {
    return Fail(ErrorCode::kInvalidArgument, "callback url must be http or https");
  }
  const size_t path = url.find_first_of("/?", scheme_end + 3);
  if (path == scheme_end + 3) return Fail(ErrorCode::kInvalidArgument, "callback url has no host");
  UrlParts parts;
  parts.origin = url.substr(0, path);
  parts.target = path == std::string::npos ? "/" : url.substr(path);
  if (parts.target[0] == '?') parts.target.insert(0, "/");
  return parts;
}

Status ValidateCallback(const std::string& callback_url, const std::string& verify_token, const std::string& challenge,
                        int timeout_ms) {
  auto parts = SplitUrl(callback_url);
  if (!parts) return std::unexpected(parts.error());
  httplib::Client client(parts->origin);
  ApplyTimeouts(client, timeout_ms);
  const httplib::Params params = {
      {"hub.mode", "subscribe"}, {"hub.challenge", challenge}, {"hub.verify_token", verify_token}};
  const int64_t start = SteadyNowUs();
  auto res = client.Get(parts->target, params, httplib::Headers{});
  if (!res) return Fail(ErrorCode::kTransient, "validation GET failed: " + httplib::to_string(res.error()));
  if ((SteadyNowUs() - start) / 1000 > timeout_ms) return Fail(ErrorCode::kTransient, "validation GET too slow");
  if (res->status != 200) return Fail(ErrorCode::kProtocol, "validation GET answered " + std::to_string(res->status));
  const auto body = nlohmann::json::parse(res->body, nullptr, false);
  if (!body.is_object() || !body.contains("hub.challenge") || body["hub.challenge"] != challenge) {
    return Fail(ErrorCode::kProtocol, "validation GET did not echo hub.challenge");
  }
  return Ok();
}

WebhookDispatcher::WebhookDispatcher(WebhookOptions options) : options_(options) {}

WebhookDispatcher::~WebhookDispatcher() { Stop(); }

void WebhookDispatcher::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Run(); });
}

void WebhookDispatcher::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (const Job& job : jobs_) log_[job.log_index].pending = false;
    jobs_.clear();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int64_t WebhookDispatcher::Enqueue(const std::string& url, const std::string& body) {
  std::lock_guard lock(mu_);
  WebhookDelivery delivery;
  delivery.id = static_cast<int64_t>(log_.size()) + 1;
  delivery.callback_url = url;
  delivery.body = body;
  delivery.pending = true;
  log_.push_back(std::move(delivery));
  jobs_.push_back(Job{log_.size() - 1, SteadyNowUs()});
  cv_.notify_all();
  return log_.back().id;
}

std::vector<WebhookDelivery> WebhookDispatcher::Log() const {
  std::lock_guard lock(mu_);
  return log_;
}

WebhookAttempt WebhookDispatcher::Attempt(const std::string& url, const std::string& body) const {
  WebhookAttempt attempt;
  const int64_t start = SteadyNowUs();
  auto parts = SplitUrl(url);
  if (!parts) {
    attempt.error = "bad url";
    return attempt;
  }
  httplib::Client client(parts->origin);
  ApplyTimeouts(client, options_.timeout_ms);
  auto res = client.Post(parts->target, body, "application/json");
  attempt.elapsed_ms = (SteadyNowUs() - start) / 1000;
  if (!res) {
    attempt.error = attempt.elapsed_ms >= options_.timeout_ms ? "timeout" : httplib::to_string(res.error());
    return attempt;
  }
  attempt.status = res->status;
  if (attempt.elapsed_ms > options_.timeout_ms) attempt.error = "late";
  return attempt;
}

// One delivery at a time, earliest due first. A failed attempt is rescheduled
// retry_delay_ms later, so one dead callback does not hold up other events.
void WebhookDispatcher::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (stopping_) return;
    auto next =
        std::min_element(jobs_.begin(), jobs_.end(), [](const Job& a, const Job& b) { return a.due_us < b.due_us; });
    const int64_t now = SteadyNowUs();
    if (next->due_us > now) {
      cv_.wait_for(lock, std::chrono::microseconds(next->due_us - now));
      continue;
    }
    const Job job = *next;
    jobs_.erase(next);
    const std::string url = log_[job.log_index].callback_url;
    const std::string body = log_[job.log_index].body;
    lock.unlock();
    const WebhookAttempt attempt = Attempt(url, body);
    lock.lock();
    WebhookDelivery& delivery = log_[job.log_index];
    delivery.attempts.push_back(attempt);
    delivery.delivered = attempt.status == 200 && attempt.error.empty();
    if (delivery.delivered || static_cast<int>(delivery.attempts.size()) >= options_.attempts || stopping_) {
      delivery.pending = false;
    } else {
      jobs_.push_back(Job{job.log_index, SteadyNowUs() + int64_t{options_.retry_delay_ms} * 1000});
    }
  }
}

}  // namespace dl::sim
