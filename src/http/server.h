// The HTTP server of `desirelines serve`: webhook intake, data API and
// dashboard. Event-driven (Boost.Beast on Asio): a slow or idle client costs
// a socket and a little memory, never a thread, so it cannot delay a valid
// webhook past Strava's 2-second limit. Per-connection deadlines bound how
// long a client may take to send its headers and body; the number of open
// connections is capped. Handlers run on a small worker pool, so a handler
// that blocks on the store does not stall the event loop.
//
// Handlers never throw on bad input (they answer 4xx); an exception escaping
// a handler is a bug, caught at the one boundary here and answered with 500.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"

namespace dl::http {

struct Request {
  std::string method;  // "GET", "POST", "HEAD", ...
  std::string target;  // as sent: path and query
  std::string path;    // decoded path without the query
  std::multimap<std::string, std::string> query;         // decoded
  std::vector<std::pair<std::string, std::string>> headers;
  std::map<std::string, std::string> path_params;        // from "{name}" in the route
  std::string body;
  std::string remote_address;

  // Case-insensitive header lookup.
  std::optional<std::string> Header(const std::string& name) const;
  std::optional<std::string> Query(const std::string& name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  static Response Json(int status, std::string body);
  // {"error": message} with the given status.
  static Response Error(int status, const std::string& message);
};

using Handler = std::function<Response(const Request&)>;

// Routes "METHOD /literal/{param}/..." to handlers. A path that matches no
// route is 404; a path that matches with another method is 405.
class Router {
 public:
  void Add(const std::string& method, const std::string& pattern, Handler handler);
  Response Dispatch(Request& request) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;
    Handler handler;
  };
  std::vector<Route> routes_;
};

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback unless configured
  uint16_t port = 0;               // 0: any free port
  size_t max_body_bytes = 16 * 1024;
  // Whole request (headers and body) must arrive within this deadline.
  int request_deadline_ms = 5000;
  int keep_alive_idle_ms = 30000;
  size_t max_connections = 4096;
  int worker_threads = 4;  // run handlers
};

class Server {
 public:
  Server(ServerOptions options, std::shared_ptr<const Router> router);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts serving on background threads; returns once listening.
  Status Start();
  uint16_t port() const;
  // Stops accepting, lets in-flight requests finish (up to a short grace), joins.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dl::http
