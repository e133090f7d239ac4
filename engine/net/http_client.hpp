#pragma once
// Asynchronous HTTP client: libcurl's multi-socket API driven by one asio io_context.
// Never blocks the loop; keeps connections alive across requests; one instance per
// io_context (a worker, or the outbox sender's loop). Not thread-safe: use it only
// from its io_context's thread.
//
// Invariants:
//  - Every request's callback runs exactly once, on the io_context, never from inside
//    request() itself.
//  - cancel_all() (and the destructor) complete pending requests with error
//    "cancelled" and never call a callback after the client is destroyed.
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace charla::net {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{10'000};
  std::size_t max_response_bytes = 8u << 20;  // larger responses fail with "response_too_large"
};

struct HttpClientOptions {
  // Connections open at once to one host (CURLMOPT_MAX_HOST_CONNECTIONS); 0: no limit.
  // Requests beyond it wait in curl's queue, and that wait counts against their
  // timeout: a caller that must not time out while queued limits its own requests in
  // flight and sets this to at least that limit.
  long max_host_connections = 0;
  // Idle connections kept for reuse (CURLMOPT_MAXCONNECTS); never fewer than
  // max_host_connections, so a caller's whole in-flight window stays keep-alive.
  long max_cached_connections = 64;
};

struct HttpResponse {
  long status = 0;                               // 0 when no HTTP response arrived
  std::map<std::string, std::string> headers;    // lower-cased names
  std::string body;
  // Empty on an HTTP response (whatever its status). Otherwise one of "timeout",
  // "cancelled", "response_too_large", "connect", or "network: <curl text>".
  std::string error;
  std::chrono::microseconds elapsed{0};
};

class HttpClient {
 public:
  using Callback = std::function<void(HttpResponse)>;

  explicit HttpClient(boost::asio::io_context& io, HttpClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Returns a request id usable with cancel().
  std::uint64_t request(HttpRequest request, Callback done);
  void cancel(std::uint64_t id);
  void cancel_all();
  std::size_t in_flight() const;
  // Changes the per-host connection limit (and the cache size with it) for requests
  // started from now on.
  void set_max_host_connections(long limit);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace charla::net
