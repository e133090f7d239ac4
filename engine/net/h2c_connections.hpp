#pragma once
// Which h2c request opens a new HTTP/2 connection and which one joins an existing one.
//
// Why this exists: libcurl 7.88 (Debian 12) breaks a reused HTTP/2 "prior knowledge"
// connection: every request after the first on it fails with "Error in the HTTP2
// framing layer", because curl stacks a second HTTP/2 layer on the connection (curl
// issue #10634, fixed in 8.0). So only a request that will open a connection may ask for
// prior knowledge; requests that join one ask for CURL_HTTP_VERSION_2_0, which reuses an
// HTTP/2 connection as it is, and wait (CURLOPT_PIPEWAIT) while the first connection is
// set up. A joining request opens a connection of its own only when every connection is
// full (or is not set up yet while another is), and that one starts as HTTP/1.1 with an
// h2c Upgrade, which a provider that only speaks prior knowledge refuses. So callers keep
// their requests in flight within one connection's stream limit: the llm plugin sets
// curl's limit to its max_concurrency, and the provider's own limit must allow as many.
//
// Invariants (per origin, "http://host:port"):
//  - connections = requests that will open one (claimed, no socket yet) + sockets open
//    from such requests; in_flight = h2c requests started and not finished;
//  - a request opens a connection iff in_flight (counting it) exceeds
//    connections × streams_per_connection, so a burst fills each connection to curl's
//    stream limit before the next opens.
// Not thread-safe: HttpClient uses it from its io_context only.
#include <cstddef>
#include <string>
#include <unordered_map>

namespace charla::net {

class H2cConnections {
 public:
  explicit H2cConnections(std::size_t streams_per_connection) : streams_(streams_per_connection) {}

  // A request to `origin` starts. True: it opens a new connection (prior knowledge).
  bool start(const std::string& origin);
  // A request that start() told to open a connection opened socket `fd` for it.
  void socket_opened(const std::string& origin, int fd, bool first_socket);
  // Any socket closed: forgets it if it was an h2c connection's.
  void socket_closed(int fd);
  // A request finished (any way). opens: what start() said; socket_seen: whether
  // socket_opened() was called for it.
  void finish(const std::string& origin, bool opens, bool socket_seen);

  std::size_t connections(const std::string& origin) const;

 private:
  struct Origin {
    std::size_t in_flight = 0;
    std::size_t claimed = 0;  // will open a connection, no socket yet
    std::size_t sockets = 0;
  };
  std::size_t streams_;
  std::unordered_map<std::string, Origin> origins_;
  std::unordered_map<int, std::string> socket_origin_;
};

// "scheme://authority" of a URL (what connections are shared by).
std::string url_origin(const std::string& url);

}  // namespace charla::net
