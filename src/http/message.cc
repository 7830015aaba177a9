// Request and Response helpers declared in server.h.
#include <strings.h>

#include "http/server.h"
#include "http/url.h"

namespace dl::http {

std::optional<std::string> Request::Header(const std::string& name) const {
  for (const auto& [key, value] : headers) {
    if (key.size() == name.size() && strncasecmp(key.c_str(), name.c_str(), key.size()) == 0) {
      return value;
    }
  }
  return std::nullopt;
}

std::optional<std::string> Request::Query(const std::string& name) const {
  auto it = query.find(name);
  if (it == query.end()) return std::nullopt;
  return it->second;
}

Response Response::Json(int status, std::string body) {
  Response response;
  response.status = status;
  response.content_type = "application/json";
  response.body = std::move(body);
  return response;
}

Response Response::Error(int status, const std::string& message) {
  return Json(status, "{\"error\":" + JsonQuote(message) + "}");
}

}  // namespace dl::http
