#pragma once
// HttpClient's requests with version h2c to http:// URLs: HTTP/2 without TLS on charla's
// own connections (net/h2_connection.hpp), no libcurl involved.
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
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace charla::net {

class H2Client final : public H2StreamOwner, public std::enable_shared_from_this<H2Client> {
 public:
  using Deliver = std::function<void(HttpClient::Callback, HttpResponse)>;

  H2Client(boost::asio::io_context& io, std::size_t max_streams_per_connection, Deliver deliver);
  ~H2Client();
  H2Client(const H2Client&) = delete;
  H2Client& operator=(const H2Client&) = delete;

  // Whether HttpClient routes `request` here: h2c to an http:// URL.
  static bool handles(const HttpRequest& request);

  void start(std::uint64_t id, HttpRequest request, HttpClient::Callback done);
  // False if `id` is not one of this client's requests in flight.
  bool cancel(std::uint64_t id);
  void cancel_all();
  void shutdown();
  std::size_t in_flight() const { return requests_.size(); }
  std::size_t connections() const;

  void stream_finished(H2Request& r, std::string error) override;
  void connection_closed(H2Connection& c) override;

 private:
  using Clock = std::chrono::steady_clock;
  std::shared_ptr<H2Connection> connection_for(const std::string& host, const std::string& port);
  void complete(std::unique_ptr<H2Request> r, std::string error);
  std::unique_ptr<H2Request> take(std::uint64_t id);
  void arm_timer();
  void on_deadlines();

  boost::asio::io_context& io_;
  std::size_t max_streams_;
  Deliver deliver_;
  bool closed_ = false;
  std::unordered_map<std::uint64_t, std::unique_ptr<H2Request>> requests_;
  // Connections by origin ("host:port"), oldest first.
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

// An http:// URL taken apart for an HTTP/2 request; `error` says what is wrong with it.
struct H2Target {
  std::string host;       // without brackets for IPv6
  std::string port;       // "80" when the URL names none
  std::string authority;  // as in the URL
  std::string path;       // path and query, "/" at least
  std::string error;
};
H2Target parse_h2_target(const std::string& url);

}  // namespace charla::net
