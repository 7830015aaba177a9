// ports::StravaApi over HTTP with libcurl: Strava itself, or strava-sim.
//
// Every answer comes back as a value (ports::ApiResponse): the parsed body
// or an Error mapped as in strava_errors.h, plus the rate-limit headers of
// every response, errors and 429s included. Transport failures (refused,
// reset, timed out, cut short) and malformed bodies are kTransient; the
// retry policy lives in the caller (app::StravaSession), not here.
//
// Secrets: the client secret, access tokens and refresh tokens never appear
// in an Error message; messages name the endpoint by method and path only.
//
// Threads: one curl handle per client, reused for keep-alive; calls on one
// client are serialised by a mutex, so sharing one client between threads is
// safe but sequential. Use one client per thread for parallel requests.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ports/strava_api.h"

namespace dl::adapters::strava_http {

struct StravaHttpOptions {
  std::string api_url = "https://www.strava.com/api/v3";  // no trailing slash needed
  std::string oauth_url = "https://www.strava.com/oauth";
  std::string client_id;
  std::string client_secret;  // secret: never logged
  int64_t connect_timeout_ms = 5000;
  int64_t total_timeout_ms = 30000;  // whole request, body included
  std::string user_agent = "desirelines/0.1";
  size_t max_body_bytes = size_t{64} << 20;  // a larger answer is refused (kProtocol)
};

class StravaHttpClient final : public ports::StravaApi {
 public:
  explicit StravaHttpClient(StravaHttpOptions options);
  ~StravaHttpClient() override;
  StravaHttpClient(const StravaHttpClient&) = delete;
  StravaHttpClient& operator=(const StravaHttpClient&) = delete;

  ports::ApiResponse<ports::TokenSet> ExchangeCode(const std::string& code) override;
  ports::ApiResponse<ports::TokenSet> Refresh(const std::string& refresh_token) override;
  ports::ApiResponse<ports::Athlete> GetAthlete(const std::string& access_token) override;
  ports::ApiResponse<std::vector<core::Activity>> ListActivities(const std::string& access_token,
                                                                 const ports::ListQuery& query) override;
  void RecyclePage(std::vector<core::Activity> page) override;
  ports::ApiResponse<core::Activity> GetActivity(const std::string& access_token, int64_t id) override;
  ports::ApiResponse<int64_t> CreateSubscription(const std::string& callback_url,
                                                 const std::string& verify_token) override;
  ports::ApiResponse<std::vector<ports::Subscription>> ListSubscriptions() override;
  ports::ApiResponse<bool> DeleteSubscription(int64_t id) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// application/x-www-form-urlencoded / query component encoding (RFC 3986
// unreserved characters kept, everything else %XX).
std::string UrlEncode(std::string_view s);

}  // namespace dl::adapters::strava_http
