#pragma once
// One HTTP/2 connection on libnghttp2, driven by the asio io_context of its HttpClient:
// without TLS ("h2c", prior knowledge: the client preface is the first byte sent), or
// over TLS (asio::ssl) when the server's ALPN picks "h2"; if it picks HTTP/1.1 the
// connection hands its requests back (H2StreamOwner::stream_fallback) and closes.
//
// Why not libcurl: a curl request in flight costs an easy handle (5.3 KB), a receive
// buffer and, over HTTP/2, a 16 KiB send buffer per stream. Here a request waiting for its
// response is an H2Request (a few hundred bytes, owned by H2Client) plus nghttp2's stream;
// the connection's read buffer, write buffer and HPACK tables are shared by all streams.
//
// Shape (nghttp2's "mem" API): a read loop feeds a fixed buffer to
// nghttp2_session_mem_recv, whose callbacks build each stream's HttpResponse; a write
// loop drains nghttp2_session_mem_send into one async_write at a time. Request bodies
// are read by nghttp2's data provider straight from the caller's string (no copy per
// request).
//
// Invariants:
//  - A request is attached (in streams_) from submit() until exactly one of: its response
//    ended, the server reset it, it exceeded max_response_bytes, detach() (cancel or
//    timeout: RST_STREAM), or the connection was lost. The owner's stream_finished() is
//    called for every way out except detach(), after the request left streams_.
//  - The owner's connection_closed() is called once, after streams_ is empty; the owner
//    keeps the connection alive (shared_ptr) until then, so H2Request::connection is valid
//    while the request is attached.
//  - No owner callback runs from inside submit() or detach(); every handler holds the
//    connection (shared_from_this) and does nothing once it is closed.
//  - close() detaches the owner: after it, nothing of the owner is touched.
#include "net/http_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

struct nghttp2_session;

namespace charla::net {

class H2Connection;

// What one request keeps while it waits: the body it sends, the response it builds, and
// where it is. Everything else of the HttpRequest (URL, headers) is gone after submit().
struct H2Request {
  std::uint64_t id = 0;
  HttpClient::Callback done;
  HttpResponse response;
  std::shared_ptr<const std::string> body;  // null: no body (END_STREAM with the headers)
  std::size_t body_sent = 0;
  std::size_t max_response_bytes = 0;
  std::chrono::steady_clock::time_point started;
  std::chrono::steady_clock::time_point deadline;
  H2Connection* connection = nullptr;  // set while attached
  std::int32_t stream_id = 0;
  // TLS only, while the server's ALPN answer is unknown: the request as given, to send it
  // through curl if the server picks HTTP/1.1.
  std::unique_ptr<HttpRequest> fallback;
};

// The request line and headers, needed only until submit() hands them to nghttp2.
struct H2RequestHead {
  std::string method;     // upper case
  std::string authority;  // host[:port]
  std::string path;       // path and query, "/" at least
  std::vector<std::pair<std::string, std::string>> headers;
};

// Implemented by H2Client.
class H2StreamOwner {
 public:
  // `r` left the connection: its response is complete (error empty) or it failed with
  // `error` (HttpResponse::error's vocabulary).
  virtual void stream_finished(H2Request& r, std::string error) = 0;
  // The connection is closed and has no stream left; the owner drops it.
  virtual void connection_closed(H2Connection& c) = 0;
  // TLS: the server did not pick "h2" in ALPN. Called once, before stream_fallback() for
  // each attached request (which left the connection) and connection_closed().
  virtual void origin_without_h2(H2Connection& c) = 0;
  virtual void stream_fallback(H2Request& r) = 0;

 protected:
  ~H2StreamOwner() = default;
};

class H2Connection : public std::enable_shared_from_this<H2Connection> {
 public:
  // Starts resolving and connecting to host:port at once; requests may be submitted
  // before the connection is up (nghttp2 holds them). `max_streams` caps the streams this
  // client opens on it (the server's SETTINGS_MAX_CONCURRENT_STREAMS applies too).
  // `known_server_limit` is the server's stream limit learned on an earlier connection to
  // it, 0 if none: until this connection's SETTINGS arrive, it takes that many requests
  // (else max_streams), and sends that many streams (else one: the rest wait for the
  // SETTINGS, one round trip, instead of being refused by a server with a lower limit).
  // `tls`: null for h2c; else the context (trust, ALPN) to speak TLS with, verifying the
  // server's certificate for `host`.
  static std::shared_ptr<H2Connection> open(boost::asio::io_context& io, H2StreamOwner& owner, std::string host,
                                            std::string port, std::size_t max_streams, std::size_t known_server_limit,
                                            std::shared_ptr<boost::asio::ssl::context> tls = nullptr);
  ~H2Connection();
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;

  // Whether a new request may go here: not closing, no GOAWAY, a free stream.
  bool accepts() const;
  // Attaches `r` and queues its HEADERS (and body). Returns an error text (empty: ok);
  // on error `r` is not attached and this connection takes no more requests.
  std::string submit(H2Request& r, const H2RequestHead& head);
  // Takes `r` off the connection without calling the owner, resetting its stream
  // (RST_STREAM CANCEL): for cancel and timeout.
  void detach(H2Request& r);
  // Closes the socket and forgets the owner; nothing is called back. For the client's
  // shutdown.
  void close();
  std::size_t streams() const { return streams_.size(); }
  // The server's SETTINGS_MAX_CONCURRENT_STREAMS once its SETTINGS arrived, else 0.
  std::size_t server_limit() const;
  // TLS and ALPN not answered yet: requests submitted now may still fall back to curl.
  bool protocol_pending() const { return tls_ctx_ && !h2_confirmed_; }

 private:
  H2Connection(boost::asio::io_context& io, H2StreamOwner& owner, std::size_t max_streams, std::size_t known_server_limit,
               std::shared_ptr<boost::asio::ssl::context> tls);
  void start(std::string host, std::string port);
  void connect(const boost::asio::ip::tcp::resolver::results_type& endpoints);
  void start_tls();
  void connected();
  void not_h2();
  void close_socket();
  // The way out shared by not_h2() and lost(): marks the connection closed, closes the
  // socket, and takes its attached requests (each already off this connection) and its
  // owner (nullptr if it was released), so each can hand them back its own way.
  struct Released {
    H2StreamOwner* owner;
    std::unordered_map<std::int32_t, H2Request*> streams;
  };
  Released release();
  // Calls f with the stream the bytes go through: the TLS stream, or the socket.
  template <class F>
  void with_stream(F&& f) {
    if (tls_) f(*tls_);
    else f(socket_);
  }
  void read();
  void schedule_flush();
  void flush();
  // Fails every attached stream with `error`, closes the socket, tells the owner.
  void lost(const std::string& error);
  void close_if_done();
  H2Request* find(std::int32_t stream_id) const;
  // Detaches the stream's request (resetting the stream if asked) and tells the owner.
  void finish(std::int32_t stream_id, std::string error, bool reset);

  // nghttp2's callbacks (h2_connection.cpp): they reach the members below.
  friend struct H2Callbacks;

  boost::asio::ip::tcp::socket socket_;  // moved into tls_ once connected over TLS
  boost::asio::ip::tcp::resolver resolver_;
  std::shared_ptr<boost::asio::ssl::context> tls_ctx_;
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket>> tls_;
  std::string host_;  // for SNI and the certificate's name
  bool h2_confirmed_ = false;
  H2StreamOwner* owner_;
  std::size_t max_streams_;
  std::size_t assumed_server_limit_;  // until the server's SETTINGS arrive
  nghttp2_session* session_ = nullptr;
  std::unordered_map<std::int32_t, H2Request*> streams_;
  std::vector<std::uint8_t> in_;  // one read buffer for all streams
  std::string out_;               // the bytes of the write in flight
  std::string origin_;            // "host:port", for error texts
  bool connected_ = false;
  bool writing_ = false;
  bool flush_posted_ = false;
  bool settings_received_ = false;  // the server's first SETTINGS: its stream limit is known
  bool goaway_ = false;  // received or sent: no new streams
  bool closed_ = false;
};

}  // namespace charla::net
