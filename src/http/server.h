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
  // Percent-decoded path without the query. The server answers 400 for a
  // malformed escape or a control character (NUL, CR, LF...). A "%2F"
  // becomes '/' and so separates route segments like a literal slash.
  std::string path;
  std::multimap<std::string, std::string> query;         // decoded, '+' is a space
  std::vector<std::pair<std::string, std::string>> headers;  // as received, in order
  std::map<std::string, std::string> path_params;        // from "{name}" in the route
  std::string body;
  std::string remote_address;  // peer IP, e.g. "127.0.0.1" (no port)

  // Case-insensitive header lookup; the first one when repeated.
  std::optional<std::string> Header(const std::string& name) const;
  // The first value of a query parameter.
  std::optional<std::string> Query(const std::string& name) const;
};

// The server adds Content-Length, "Server: desirelines", Connection, and
// default security headers (X-Content-Type-Options: nosniff, X-Frame-Options:
// DENY, Referrer-Policy: no-referrer, and a locked-down
// Content-Security-Policy unless content_type is text/html); a handler's own
// header of the same name wins over a default. Handler headers named
// Content-Length, Transfer-Encoding or Connection, or holding CR/LF, are
// dropped. 204 and 304 are sent without body, Content-Type or Content-Length.
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

// Routes "METHOD /literal/{param}/..." to handlers. Literal segments match
// exactly (after percent-decoding of the path); "{name}" captures one
// non-empty segment into Request::path_params. When several routes match, the
// one with the most literal segments wins, then the first added. HEAD falls
// back to the GET route when no HEAD route exists (the server drops the body).
// A path that matches no route is 404 {"error":"not found"}; a path that
// matches only with other methods is 405 with an Allow header.
//
// Add() is for set-up, before the router is shared; it throws
// std::invalid_argument on a malformed pattern (a start-up bug). Dispatch()
// is const and safe to call from many threads at once.
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
  std::string host = "127.0.0.1";  // loopback unless configured; an IP literal or "localhost"
  uint16_t port = 0;               // 0: any free port
  size_t max_body_bytes = 16 * 1024;  // larger bodies: 413 (Content-Length or chunked)
  // Whole request (headers and body) must arrive within this deadline, counted
  // from the accept for the first request of a connection and from the first
  // byte for later ones; otherwise the connection is closed without an answer.
  int request_deadline_ms = 5000;
  int keep_alive_idle_ms = 30000;  // idle kept-alive connections are closed after this
  // Open sockets. At the cap a new connection takes the place of a kept-alive
  // one waiting for its next request (idle clients cannot lock a webhook
  // out); when every connection is busy, it is accepted and closed.
  size_t max_connections = 4096;
  // Run handlers. Handlers that block on a commit should have a pool at least
  // as large as the number of concurrent clients expected (e.g. 8 to 16).
  int worker_threads = 4;
  // Additions (http engineer):
  int io_threads = 1;                   // run the event loop (1 or 2 is plenty)
  size_t max_header_bytes = 8 * 1024;   // request line and headers; larger: 431
  int write_timeout_ms = 10000;         // a client must take a response within this
  int shutdown_grace_ms = 5000;         // Stop() waits this long for in-flight handlers
};

// Counters for tests and monitoring; a consistent-enough snapshot, not atomic
// as a whole.
struct ServerStats {
  size_t open_connections = 0;
  uint64_t requests_read = 0;      // complete requests handed to the worker pool
  size_t handlers_in_flight = 0;   // handed to the pool, response not yet written
  uint64_t connections_refused = 0;  // closed at accept because of max_connections
  uint64_t connections_evicted = 0;  // idle kept-alive ones closed to make room for a new one
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
  // Stops accepting, closes idle and half-read connections, lets handlers
  // already running or queued finish and their responses be written (up to
  // shutdown_grace_ms), then closes everything and joins the threads. A
  // handler still running after the grace cannot be interrupted: Stop() waits
  // for it to return, and its response is discarded. Safe to call twice and
  // from any thread but a handler's; the destructor calls it.
  void Stop();
  ServerStats Stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dl::http
