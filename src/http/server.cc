// Server: Boost.Beast on Asio.
//
// Threads: `io_threads` run the io_context (accept, read, parse, write); each
// connection is a Session whose completion handlers run on its own strand.
// A complete, decoded request is posted to the worker pool; the handler's
// Response is posted back to the session's strand and written there. A
// client therefore occupies a worker only from the moment its whole request
// has arrived until its handler returns: slow or idle clients cost a socket.
//
// Time limits per connection (all on the tcp_stream's timer, which closes the
// socket when it fires):
//   first request: headers and body within request_deadline_ms of the accept;
//   later requests: keep_alive_idle_ms to send a first byte, then
//     request_deadline_ms for the whole request;
//   response: written within write_timeout_ms.
#include "http/server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string_view>
#include <thread>
#include <unordered_map>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "http/url.h"

namespace dl::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;

// After an error response the client may still be sending (an oversized
// body); closing with unread data would make the kernel answer with a RST
// that can destroy the response before the client reads it. So we half-close
// and read and discard for a little while first.
constexpr milliseconds kLingerTime{1000};
constexpr size_t kLingerMaxBytes = 256 * 1024;
constexpr size_t kReadChunk = 4096;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

class Session;

// Shared by the server and its sessions. Sessions hold it by shared_ptr
// because they may outlive Stop() inside the io_context's queue.
struct State {
  State(ServerOptions o, std::shared_ptr<const Router> r)
      : options(std::move(o)), router(std::move(r)) {}

  const ServerOptions options;
  const std::shared_ptr<const Router> router;
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> requests_read{0};
  std::atomic<uint64_t> connections_refused{0};
  std::atomic<uint64_t> connections_evicted{0};

  std::mutex mu;
  std::condition_variable cv;  // notified when in_flight or sessions shrink
  size_t in_flight = 0;                                                 // guarded by mu
  std::unordered_map<const Session*, std::weak_ptr<Session>> sessions;  // guarded by mu
};

// Counts a request from its hand-off to the pool until its response is
// written (or abandoned), so Stop() can wait for in-flight work.
class InFlight {
 public:
  explicit InFlight(State& state) : state_(state) {
    std::lock_guard lock(state_.mu);
    ++state_.in_flight;
  }
  ~InFlight() {
    {
      std::lock_guard lock(state_.mu);
      --state_.in_flight;
    }
    state_.cv.notify_all();
  }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  State& state_;
};

void Log(const std::string& line) { std::fprintf(stderr, "desirelines http: %s\n", line.c_str()); }

// The one exception boundary for handlers. Logs the exception's message,
// never the request body (it may hold anything a client sent).
Response InvokeHandler(const Router& router, Request& request) {
  try {
    return router.Dispatch(request);
  } catch (const std::exception& e) {
    Log("handler for " + request.method + " raised: " + e.what());
  } catch (...) {
    Log("handler for " + request.method + " raised a non-standard exception");
  }
  return Response::Error(500, "internal error");
}

// Status to answer for a failed read, or 0 to close without an answer (the
// client left, timed out, or we are closing). A full read buffer after the
// headers means an endless chunk line or trailer: part of the body's framing.
int StatusForReadError(const beast::error_code& ec, bool header_done) {
  if (ec == bhttp::error::body_limit) return 413;
  if (ec == bhttp::error::buffer_overflow) return header_done ? 413 : 431;
  if (ec == bhttp::error::header_limit) return 431;
  if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) return 0;
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category()) return 400;
  return 0;
}

const char* MessageForStatus(int status) {
  switch (status) {
    case 413: return "request body too large";
    case 431: return "request headers too large";
    default: return "malformed request";
  }
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return c > 0x20 && c < 0x7f && std::string_view("()<>@,;:\\\"/[]?={}").find(c) ==
                                       std::string_view::npos;
  });
}

bool IsFieldValue(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// Boost 1.74's Beast has its own string_view; convert at the boundary.
std::string_view Sv(beast::string_view s) { return {s.data(), s.size()}; }
beast::string_view Bv(std::string_view s) { return {s.data(), s.size()}; }

bool IEquals(std::string_view a, std::string_view b) { return beast::iequals(Bv(a), Bv(b)); }

// Framing is the server's business: a handler cannot set these.
bool IsFramingHeader(std::string_view name) {
  return IEquals(name, "Content-Length") || IEquals(name, "Transfer-Encoding") ||
         IEquals(name, "Connection");
}

void AddHandlerHeaders(const Response& r, bhttp::response<bhttp::string_body>& res) {
  for (const auto& [name, value] : r.headers) {
    if (!IsToken(name) || !IsFieldValue(value) || IsFramingHeader(name)) {
      Log("dropped an invalid or reserved response header");
      continue;
    }
    res.insert(Bv(name), Bv(value));  // insert, not set: Set-Cookie and Vary may repeat
  }
}

// Headers suitable for a JSON API and an embedded dashboard, unless the
// handler set its own. The CSP locks down everything that is not an HTML page
// (the dashboard's handler brings the CSP its page needs).
void AddDefaultHeaders(const std::string& content_type, bhttp::response<bhttp::string_body>& res) {
  auto set_default = [&res](std::string_view name, std::string_view value) {
    if (res.find(Bv(name)) == res.end()) res.set(Bv(name), Bv(value));
  };
  set_default("X-Content-Type-Options", "nosniff");
  set_default("X-Frame-Options", "DENY");
  set_default("Referrer-Policy", "no-referrer");
  if (content_type.rfind("text/html", 0) != 0) {
    set_default("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
  }
}

bhttp::response<bhttp::string_body> ToBeast(Response r, unsigned version, bool head,
                                            bool keep_alive) {
  if (r.status < 200 || r.status > 599 || !IsFieldValue(r.content_type)) {
    Log("handler returned an invalid status or content type; status " + std::to_string(r.status));
    r = Response::Error(500, "internal error");
  }
  bhttp::response<bhttp::string_body> res;
  res.version(version);
  res.result(static_cast<unsigned>(r.status));
  res.set(bhttp::field::server, "desirelines");
  const bool no_body = r.status == 204 || r.status == 304;
  if (!no_body) res.set(bhttp::field::content_type, r.content_type);
  AddHandlerHeaders(r, res);
  AddDefaultHeaders(r.content_type, res);
  if (!no_body) {
    // HEAD: the GET's Content-Length without its body.
    res.content_length(r.body.size());
    if (!head) res.body() = std::move(r.body);
  }
  res.keep_alive(keep_alive);
  return res;
}

Request ToRequest(bhttp::request<bhttp::string_body>& msg, DecodedTarget target,
                  const std::string& remote_address) {
  Request request;
  request.method = std::string(msg.method_string());
  request.target = std::string(msg.target());
  request.path = std::move(target.path);
  request.query = std::move(target.query);
  request.headers.reserve(8);
  for (const auto& field : msg) {
    request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  request.body = std::move(msg.body());
  request.remote_address = remote_address;
  return request;
}

// What one connection may buffer. The parser consumes body bytes as they
// arrive and refuses headers past max_header_bytes, but Beast 1.74 bounds
// neither a chunk-size line (with its extensions) nor the trailer: without
// this cap a client could make one connection buffer gigabytes before the
// deadline. Headers, a body and a read's worth are more than one request
// ever needs at once (pipelined bytes beyond it wait in the socket).
size_t MaxBufferedBytes(const ServerOptions& o) { return o.max_header_bytes + o.max_body_bytes + kReadChunk; }

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<State> state,
          asio::thread_pool::executor_type workers, std::string remote_address)
      : state_(std::move(state)),
        workers_(std::move(workers)),
        stream_(std::move(socket)),
        buffer_(MaxBufferedBytes(state_->options)),
        remote_address_(std::move(remote_address)) {}

  ~Session() {
    in_flight_.reset();
    {
      std::lock_guard lock(state_->mu);
      state_->sessions.erase(this);
    }
    state_->cv.notify_all();
  }

  void Start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      self->stream_.expires_after(milliseconds(self->state_->options.request_deadline_ms));
      self->ReadHeader();
    });
  }

  // Claims a kept-alive connection that waits for the first byte of its next
  // request, for Evict(); true at most once per wait. Any thread.
  bool ClaimIdle() { return idle_.exchange(false); }

  // Closes a connection claimed by ClaimIdle(). No request is read on it
  // after the claim (a client that sent one at that very moment sees its
  // kept-alive connection closed, which HTTP/1.1 clients must expect anyway).
  void Evict() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (self->phase_ == Phase::kReading) self->Close();
    });
  }

  // Graceful: closes the connection unless a request is being handled or
  // answered (that one closes after its response). Force: closes it now.
  void Shutdown(bool force) {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this(), force] {
      if (force || self->phase_ == Phase::kReading || self->phase_ == Phase::kClosing) {
        self->Close();
      }
    });
  }

 private:
  enum class Phase { kReading, kHandling, kWriting, kClosing, kClosed };

  void Close() {
    idle_ = false;
    if (phase_ == Phase::kClosed) return;
    phase_ = Phase::kClosed;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  // Between kept-alive requests: wait up to the idle limit for a first byte.
  void WaitForRequest() {
    phase_ = Phase::kReading;
    if (buffer_.size() > 0) {  // the client already sent the next request
      stream_.expires_after(milliseconds(state_->options.request_deadline_ms));
      ReadHeader();
      return;
    }
    stream_.expires_after(milliseconds(state_->options.keep_alive_idle_ms));
    idle_ = true;
    stream_.async_read_some(buffer_.prepare(kReadChunk),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              // Claimed for eviction meanwhile: never start
                              // a request that Evict() would cut short.
                              const bool claimed = !self->idle_.exchange(false);
                              if (ec || claimed) return self->Close();
                              self->buffer_.commit(n);
                              self->stream_.expires_after(
                                  milliseconds(self->state_->options.request_deadline_ms));
                              self->ReadHeader();
                            });
  }

  void ReadHeader() {
    phase_ = Phase::kReading;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(
        std::min<size_t>(state_->options.max_header_bytes, UINT32_MAX)));
    parser_->body_limit(static_cast<std::uint64_t>(state_->options.max_body_bytes));
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = shared_from_this()](beast::error_code ec, size_t) {
                               self->OnHeader(ec);
                             });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    const auto& msg = parser_->get();
    if (msg.find(bhttp::field::transfer_encoding) != msg.end() && !parser_->chunked()) {
      // RFC 9112 6.3: unless chunked is the last coding the body's length
      // is unknown. Beast would read no body and parse the body as the next
      // request, which a proxy in front may have framed differently.
      return Refuse(400, "unsupported Transfer-Encoding: the last coding must be chunked");
    }
    if (parser_->is_done()) return OnRequest();
    auto expect = msg.find(bhttp::field::expect);
    if (msg.version() >= 11 && expect != msg.end() && IEquals(Sv(expect->value()), "100-continue")) {
      // The body fits (the parser checked Content-Length): invite it.
      asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                        [self = shared_from_this()](beast::error_code wec, size_t) {
                          if (wec) return self->Close();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) return self->OnReadError(ec);
                        self->OnRequest();
                      });
  }

  void OnReadError(beast::error_code ec) {
    const int status = StatusForReadError(ec, parser_ && parser_->is_header_done());
    if (status == 0 || phase_ != Phase::kReading || state_->stopping) return Close();
    Refuse(status, MessageForStatus(status));
  }

  // Answers a request that cannot be read, then closes the connection.
  void Refuse(int status, const char* message) {
    version_ = 11;
    head_ = false;
    SendResponse(Response::Error(status, message), /*keep_alive=*/false);
  }

  void OnRequest() {
    if (state_->stopping) return Close();
    auto& msg = parser_->get();
    version_ = msg.version();
    head_ = msg.method() == bhttp::verb::head;
    keep_alive_ = msg.keep_alive();
    auto target = DecodeTarget(Sv(msg.target()));
    if (!target) return SendResponse(Response::Error(400, target.error().message), false);
    Request request = ToRequest(msg, std::move(*target), remote_address_);
    parser_.reset();
    state_->requests_read.fetch_add(1, std::memory_order_relaxed);
    in_flight_.emplace(*state_);
    phase_ = Phase::kHandling;
    stream_.expires_never();
    asio::post(workers_, [self = shared_from_this(), request = std::move(request)]() mutable {
      Response response = InvokeHandler(*self->state_->router, request);
      asio::post(self->stream_.get_executor(),
                 [self, response = std::move(response)]() mutable {
                   self->OnHandled(std::move(response));
                 });
    });
  }

  void OnHandled(Response response) {
    if (phase_ == Phase::kClosed) {  // force-closed while the handler ran
      in_flight_.reset();
      return;
    }
    SendResponse(std::move(response), keep_alive_ && !state_->stopping);
  }

  void SendResponse(Response response, bool keep_alive) {
    keep_alive_ = keep_alive;
    phase_ = Phase::kWriting;
    response_.emplace(ToBeast(std::move(response), version_, head_, keep_alive));
    stream_.expires_after(milliseconds(state_->options.write_timeout_ms));
    bhttp::async_write(stream_, *response_,
                       [self = shared_from_this()](beast::error_code ec, size_t) {
                         self->OnWritten(ec);
                       });
  }

  void OnWritten(beast::error_code ec) {
    response_.reset();
    in_flight_.reset();
    if (ec) return Close();
    if (!keep_alive_ || state_->stopping) return LingerClose();
    WaitForRequest();
  }

  void LingerClose() {
    phase_ = Phase::kClosing;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kLingerTime);
    linger_bytes_ = 0;
    Drain();
  }

  void Drain() {
    buffer_.consume(buffer_.size());
    stream_.async_read_some(buffer_.prepare(kReadChunk),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->linger_bytes_ += n;
                              if (ec || self->linger_bytes_ > kLingerMaxBytes) return self->Close();
                              self->Drain();
                            });
  }

  std::shared_ptr<State> state_;
  asio::thread_pool::executor_type workers_;
  beast::tcp_stream stream_;  // its executor is this session's strand
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::string_body>> response_;
  std::optional<InFlight> in_flight_;
  std::string remote_address_;
  Phase phase_ = Phase::kReading;
  unsigned version_ = 11;
  bool head_ = false;
  bool keep_alive_ = false;
  size_t linger_bytes_ = 0;
  std::atomic<bool> idle_{false};  // waiting for a kept-alive request's first byte
};

Result<asio::ip::address> ParseHost(const std::string& host) {
  if (host == "localhost") return asio::ip::address_v4::loopback();
  beast::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) return Fail(ErrorCode::kInvalidArgument, "invalid listen address: " + host);
  return address;
}

}  // namespace

struct Server::Impl {
  Impl(ServerOptions options, std::shared_ptr<const Router> router)
      : state(std::make_shared<State>(std::move(options), router ? std::move(router)
                                                                 : std::make_shared<Router>())),
        ioc(std::max(1, state->options.io_threads)),
        pool(static_cast<size_t>(std::max(1, state->options.worker_threads))),
        acceptor(ioc),
        retry_timer(ioc) {}

  void Accept() {
    acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
      OnAccept(ec, std::move(socket));
    });
  }

  void OnAccept(beast::error_code ec, tcp::socket socket) {
    if (state->stopping || ec == asio::error::operation_aborted) return;
    if (ec) {  // e.g. out of file descriptors: back off instead of spinning
      Log("accept failed: " + ec.message());
      retry_timer.expires_after(milliseconds(50));
      retry_timer.async_wait([this](beast::error_code tec) {
        if (!tec && !state->stopping) Accept();
      });
      return;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    std::string remote = socket.remote_endpoint(ignored).address().to_string();
    std::shared_ptr<Session> session, evicted;
    std::vector<std::shared_ptr<Session>> looked_at;  // released after the lock
    {
      std::lock_guard lock(state->mu);
      const bool room = state->sessions.size() < state->options.max_connections;
      if (!room) evicted = ClaimIdleSession(looked_at);
      if (room || evicted) {
        session = std::make_shared<Session>(std::move(socket), state, pool.get_executor(),
                                            std::move(remote));
        state->sessions.emplace(session.get(), session);
      }
    }
    if (evicted) {
      state->connections_evicted.fetch_add(1, std::memory_order_relaxed);
      evicted->Evict();
    }
    if (session) {
      session->Start();
    } else {
      state->connections_refused.fetch_add(1, std::memory_order_relaxed);
      socket.close(ignored);
    }
    Accept();
  }

  // A kept-alive session waiting for its next request, claimed for eviction;
  // null when every session is busy. state->mu held. Linear, but only at the
  // connection cap. The sessions looked at are kept in `looked_at`, for the
  // caller to release outside the lock (a last reference runs ~Session,
  // which takes state->mu).
  std::shared_ptr<Session> ClaimIdleSession(std::vector<std::shared_ptr<Session>>& looked_at) {
    for (auto& [key, weak] : state->sessions) {
      auto session = weak.lock();
      if (!session) continue;
      looked_at.push_back(session);
      if (session->ClaimIdle()) return session;
    }
    return nullptr;
  }

  void ShutdownSessions(bool force) {
    std::vector<std::shared_ptr<Session>> live;
    {
      std::lock_guard lock(state->mu);
      for (auto& [key, weak] : state->sessions) {
        if (auto session = weak.lock()) live.push_back(std::move(session));
      }
    }
    for (auto& session : live) session->Shutdown(force);
  }  // `live` dies here, outside the lock: a last reference runs ~Session

  void RunLoop() {
    for (;;) {
      try {
        ioc.run();
        return;
      } catch (const std::exception& e) {
        Log(std::string("event loop error: ") + e.what());
      }
    }
  }

  std::shared_ptr<State> state;
  asio::io_context ioc;
  asio::thread_pool pool;
  tcp::acceptor acceptor;
  asio::steady_timer retry_timer;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> io_threads;
  std::mutex lifecycle_mu;  // serialises Start and Stop
  bool started = false;
  bool stopped = false;
  std::atomic<uint16_t> port{0};  // atomic: port() must not wait for Stop()
};

Server::Server(ServerOptions options, std::shared_ptr<const Router> router)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(router))) {}

Server::~Server() { Stop(); }

Status Server::Start() {
  Impl& s = *impl_;
  std::lock_guard lock(s.lifecycle_mu);
  if (s.started) return Fail(ErrorCode::kInternal, "server already started");
  auto address = ParseHost(s.state->options.host);
  if (!address) return std::unexpected(address.error());
  tcp::endpoint endpoint(*address, s.state->options.port);
  const std::string where = s.state->options.host + ":" + std::to_string(endpoint.port());
  beast::error_code ec;
  s.acceptor.open(endpoint.protocol(), ec);
  if (!ec) s.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(endpoint, ec);
  if (!ec) s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    beast::error_code ignored;
    s.acceptor.close(ignored);
    return Fail(ErrorCode::kIo, "cannot listen on " + where + ": " + ec.message());
  }
  s.port = s.acceptor.local_endpoint(ec).port();
  s.work.emplace(s.ioc.get_executor());
  s.Accept();
  const int threads = std::max(1, s.state->options.io_threads);
  for (int i = 0; i < threads; ++i) s.io_threads.emplace_back([&s] { s.RunLoop(); });
  s.started = true;
  return Ok();
}

uint16_t Server::port() const { return impl_->port.load(); }

void Server::Stop() {
  Impl& s = *impl_;
  std::lock_guard lock(s.lifecycle_mu);
  if (!s.started || s.stopped) return;
  s.stopped = true;
  s.state->stopping = true;
  asio::post(s.ioc, [&s] {
    beast::error_code ignored;
    s.acceptor.close(ignored);
    s.retry_timer.cancel();
  });
  s.ShutdownSessions(/*force=*/false);
  {
    std::unique_lock state_lock(s.state->mu);
    s.state->cv.wait_for(state_lock, milliseconds(s.state->options.shutdown_grace_ms),
                         [&s] { return s.state->in_flight == 0; });
  }
  s.ShutdownSessions(/*force=*/true);
  {
    // Closed sessions go away once their cancelled operations complete; one
    // whose handler is still running stays until the handler returns.
    std::unique_lock state_lock(s.state->mu);
    s.state->cv.wait_for(state_lock, milliseconds(1000),
                         [&s] { return s.state->sessions.empty(); });
  }
  s.work.reset();
  s.ioc.stop();
  for (auto& thread : s.io_threads) thread.join();
  s.io_threads.clear();
  s.pool.stop();  // drop queued handlers; join waits for running ones
  s.pool.join();
}

ServerStats Server::Stats() const {
  const State& state = *impl_->state;
  ServerStats stats;
  stats.requests_read = state.requests_read.load(std::memory_order_relaxed);
  stats.connections_refused = state.connections_refused.load(std::memory_order_relaxed);
  stats.connections_evicted = state.connections_evicted.load(std::memory_order_relaxed);
  std::lock_guard lock(impl_->state->mu);
  stats.open_connections = state.sessions.size();
  stats.handlers_in_flight = state.in_flight;
  return stats;
}

}  // namespace dl::http
