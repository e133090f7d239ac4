#pragma once
// HttpClient's HTTP/2 requests on charla's own connections (net/h2_connection.hpp), no
// libcurl involved: version h2c to http:// URLs (HTTP/2 without TLS), and version h2c or
// http2_tls to https:// URLs (TLS, ALPN "h2", the server's certificate verified against
// the system's CAs or HttpClientOptions::ca_file, and its name). When a TLS server picks
// HTTP/1.1, the requests sent to it meanwhile go to curl (`fallback`), and so do all later
// ones to that origin. https:// requests also go to curl when a proxy is configured in
// the environment (https_proxy, all_proxy), which curl honours and this client does not.
//
// Connections: one per origin (host:port) while it has a free stream; a second opens only
// when every open one is at its stream limit (HttpClientOptions::max_concurrent_streams,
// or the server's SETTINGS_MAX_CONCURRENT_STREAMS if lower), or after one failed or got a
// GOAWAY. Idle connections stay open for the next request until the server closes them.
//
// Invariants (those of HttpClient, for these requests):
//  - Every request completes exactly once, through `deliver` (which posts to the
//    io_context and drops the callback if the HttpClient is gone); never from inside
//    start(), cancel() or cancel_all().
//  - cancel(), cancel_all(), a deadline and a response over max_response_bytes reset the
//    request's stream (RST_STREAM); the connection stays up for the other streams.
//  - After shutdown() nothing is delivered and every connection is closed.
// Not thread-safe: used from its io_context only.
#include "net/h2_connection.hpp"
#include "net/http_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace charla::net {

struct H2Target;

class H2Client final : public H2StreamOwner, public std::enable_shared_from_this<H2Client> {
 public:
  using Deliver = std::function<void(HttpClient::Callback, HttpResponse)>;
  // Starts request `id` on curl (HttpClient's other path), keeping its id and callback.
  using Fallback = std::function<void(std::uint64_t, HttpRequest, HttpClient::Callback)>;

  H2Client(boost::asio::io_context& io, const HttpClientOptions& options, Deliver deliver, Fallback fallback);
  ~H2Client();
  H2Client(const H2Client&) = delete;
  H2Client& operator=(const H2Client&) = delete;

  // Whether HttpClient routes `request` here (see the top of this file).
  bool takes(const HttpRequest& request) const;

  void start(std::uint64_t id, HttpRequest request, HttpClient::Callback done);
  // False if `id` is not one of this client's requests in flight.
  bool cancel(std::uint64_t id);
  void cancel_all();
  void shutdown();
  std::size_t in_flight() const { return requests_.size(); }
  std::size_t connections() const;

  void stream_finished(H2Request& r, std::string error) override;
  void connection_closed(H2Connection& c) override;
  void origin_without_h2(H2Connection& c) override;
  void stream_fallback(H2Request& r) override;

 private:
  using Clock = std::chrono::steady_clock;
  static std::string origin_key(const H2Target& t);
  std::shared_ptr<H2Connection> connection_for(const H2Target& target,
                                               const std::shared_ptr<boost::asio::ssl::context>& tls);
  std::shared_ptr<boost::asio::ssl::context> tls_context(std::string& error);
  void complete(std::unique_ptr<H2Request> r, std::string error);
  std::unique_ptr<H2Request> take(std::uint64_t id);
  void arm_timer();
  void on_deadlines();

  boost::asio::io_context& io_;
  std::size_t max_streams_;
  std::string ca_file_;
  Deliver deliver_;
  Fallback fallback_;
  std::shared_ptr<boost::asio::ssl::context> tls_;  // made at the first https:// request
  std::unordered_set<std::string> http1_origins_;    // TLS origins whose ALPN picked HTTP/1.1
  bool closed_ = false;
  std::unordered_map<std::uint64_t, std::unique_ptr<H2Request>> requests_;
  // Connections by origin ("http://host:port", "https://host:port"), oldest first.
  std::unordered_map<std::string, std::vector<std::shared_ptr<H2Connection>>> origins_;
  // The server's stream limit per origin, as its last connection learned it: a new
  // connection takes that many requests before its own SETTINGS arrive.
  std::unordered_map<std::string, std::size_t> known_limits_;
  // One timer for every request's deadline, instead of one per request.
  std::set<std::pair<Clock::time_point, std::uint64_t>> deadlines_;
  boost::asio::steady_timer timer_;
  bool timer_armed_ = false;
  Clock::time_point timer_at_{};
};

// An http:// or https:// URL taken apart for an HTTP/2 request; `error` says what is
// wrong with it.
struct H2Target {
  bool tls = false;       // https://
  std::string host;       // without brackets for IPv6
  std::string port;       // "80" or "443" when the URL names none
  std::string authority;  // as in the URL
  std::string path;       // path and query, "/" at least
  std::string error;
};
H2Target parse_h2_target(const std::string& url);

}  // namespace charla::net
