// A tiny libcurl client for the simulator's contract tests: one request, the
// whole response (status, headers, body) or the curl error code.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace dl::sim::testing {

struct HttpRequest {
  std::string method = "GET";
  std::string body;
  std::string content_type;          // sent when non-empty
  std::vector<std::string> headers;  // "Name: value"
  long timeout_ms = 10000;
};

struct HttpResponse {
  int curl_code = 0;  // CURLE_OK (0) when a whole response arrived
  long status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  bool HasHeader(const std::string& name) const;
  std::string Header(const std::string& name) const;  // case-insensitive; "" if absent
};

HttpResponse Fetch(const std::string& url, const HttpRequest& request = {});
HttpResponse Get(const std::string& url, const std::string& access_token = "");
HttpResponse PostForm(const std::string& url, const std::string& form);
HttpResponse SendJson(const std::string& method, const std::string& url, const std::string& json);

}  // namespace dl::sim::testing
