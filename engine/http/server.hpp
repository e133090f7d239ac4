#pragma once
// The HTTP listener (Boost.Beast): webhooks, admin API, health and metrics.
// Handlers answer asynchronously: a handler may call `respond` later from any
// thread (e.g. the store's writer thread once a webhook batch is durable); the
// response is written on the connection's own strand.
//
// Invariants: one write outstanding per connection; bodies over body_limit get 413
// without being buffered whole; a request's headers must arrive within header_timeout
// (slow-header clients cannot hold a connection); at most max_connections are open
// (clamped below the fd limit) and at the cap the oldest connection still reading a
// request is closed for the new one, so /healthz answers under a flood of idle
// connections; accept() failing for lack of fds backs off on a timer instead of
// spinning; an exception from a handler becomes a 500 and the thread keeps serving.
#include <boost/asio/io_context.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace charla::http {

namespace beast_http = boost::beast::http;

struct Request {
  beast_http::verb method;
  std::string path;                              // decoded path, no query
  std::map<std::string, std::string> query;      // decoded query parameters
  beast_http::fields headers;
  std::string body;                              // raw bytes (signatures are over these)
  std::string header(std::string_view name) const;
};

struct Response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  static Response json(unsigned status, const std::string& body) { return {status, "application/json", body, {}}; }
  static Response text(unsigned status, std::string body) { return {status, "text/plain; charset=utf-8", std::move(body), {}}; }
};

using Respond = std::function<void(Response)>;
using Handler = std::function<void(Request&, Respond)>;

struct ServerOptions {
  std::string bind = "127.0.0.1";
  unsigned short port = 8080;                    // 0: pick a free port
  int threads = 1;
  std::size_t body_limit = 3u << 20;             // bytes; more -> 413
  std::chrono::seconds idle_timeout{60};         // to read a request's body
  std::chrono::milliseconds header_timeout{10'000};  // to read a request's headers
  std::size_t max_connections = 10'000;          // lowered to fit the fd limit at start()
};

struct ServerStats {
  std::uint64_t open_connections = 0;
  std::uint64_t max_connections = 0;      // the cap in force (after the fd-limit clamp)
  std::uint64_t refused_connections = 0;  // closed at once: at the cap, none idle to close
  std::uint64_t evicted_connections = 0;  // still reading a request, closed for a newer one
  std::uint64_t accept_errors = 0;        // accept() failed (e.g. out of fds) and backed off
  std::uint64_t handler_errors = 0;       // exceptions out of handlers (answered 500)
};

// One entry of the route table, for GET /admin/routes (the OpenAPI parity test).
struct RouteInfo {
  std::string method;  // "GET", "POST", ...
  std::string path;    // as registered: a trailing '*' is a prefix route
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();

  // Exact-path routes. A path with a trailing '*' matches by prefix.
  void route(beast_http::verb method, std::string path, Handler handler);
  // Requests to `path` (exact) need "Authorization: Bearer <token>", else 401.
  void require_bearer(std::string path, std::string token);
  // Every route as registered, in registration order.
  std::vector<RouteInfo> routes() const;
  // Binds and starts serving; throws std::runtime_error naming the address on failure.
  void start();
  void stop();
  unsigned short port() const;
  ServerStats stats() const;

  struct Impl;  // public so the connection type in server.cpp can name it

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace charla::http
