#pragma once
// Asynchronous HTTP client: libcurl's multi-socket API driven by one asio io_context, and
// for h2c requests to http:// URLs charla's own HTTP/2 client on libnghttp2
// (net/h2_client.hpp) on the same io_context.
// Never blocks the loop; keeps connections alive across requests; one instance per
// io_context (a worker, or the outbox sender's loop). Not thread-safe: use it only
// from its io_context's thread.
//
// Invariants:
//  - Every request's callback runs exactly once, on the io_context, never from inside
//    request() itself.
//  - cancel(), cancel_all() (and the destructor) complete pending requests with error
//    "cancelled" and never call a callback after the client is destroyed.
//  - Both paths keep the same contract: errors, lower-cased header names, `elapsed`,
//    in_flight() counts every request.
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace charla::net {

// Which HTTP version a request may use, and whether it waits to share a connection.
enum class HttpVersion {
  any,       // curl's default (HTTP/2 if TLS's ALPN agrees, else 1.1), a connection per request in flight
  http1_1,   // HTTP/1.1 only: a connection per request in flight
  http2_tls, // HTTP/2 over TLS when ALPN agrees, else 1.1, many requests sharing one connection: to
             // https:// URLs on charla's own HTTP/2 client (net/h2_client.hpp; curl if the server
             // picks HTTP/1.1 or a proxy is configured), otherwise curl (CURLOPT_PIPEWAIT)
  h2c,       // HTTP/2 from the first byte ("prior knowledge", without TLS) to an http:// URL, on
             // charla's own HTTP/2 client (no curl handle per request; requests multiplexed on
             // one connection per origin); to an https:// URL, as http2_tls
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // When set, sent instead of `body`, without a copy: a caller that sends the same body
  // again (retries) keeps one copy for all its attempts, not one more per request in flight.
  std::shared_ptr<const std::string> shared_body;
  std::chrono::milliseconds timeout{10'000};
  std::size_t max_response_bytes = 8u << 20;  // larger responses fail with "response_too_large"
  HttpVersion version = HttpVersion::any;
  // curl's receive buffer, allocated for each request in flight (CURLOPT_BUFFERSIZE; h2c
  // requests to http:// URLs have no such buffers: their connection's are shared);
  // 0: curl's default, 16 KiB. Smaller costs nothing but more, smaller reads.
  std::size_t receive_buffer_bytes = 0;
  // curl's send buffer for a body it cannot send with the headers (CURLOPT_UPLOAD_BUFFERSIZE):
  // over HTTP/2 every request body goes through it, allocated per request in flight.
  // 0: curl's default, 64 KiB; curl never takes less than 16 KiB.
  std::size_t upload_buffer_bytes = 0;
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
  // Requests multiplexed on one HTTP/2 connection (CURLMOPT_MAX_CONCURRENT_STREAMS, and
  // the h2c client's limit; the server's own limit applies too). Beyond it another
  // connection opens.
  long max_concurrent_streams = 100;
  // A PEM file of CA certificates to trust instead of the system's, for https:// (curl's
  // CURLOPT_CAINFO and the HTTP/2 client's TLS); empty: the system's.
  std::string ca_file;
};

struct HttpResponse {
  long status = 0;                               // 0 when no HTTP response arrived
  std::map<std::string, std::string> headers;    // lower-cased names
  std::string body;
  // Empty on an HTTP response (whatever its status). Otherwise one of "timeout",
  // "cancelled", "response_too_large", "connect", or "network: <text>" (curl's text, or
  // the h2c client's: connection closed, stream reset or refused, protocol error).
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
