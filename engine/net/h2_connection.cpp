#include "net/h2_connection.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/write.hpp>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace charla::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// Bytes gathered from nghttp2 into one write; more waits for the next write.
constexpr std::size_t kMaxWriteBytes = 64 * 1024;
constexpr std::size_t kReadBufferBytes = 16 * 1024;
// The connection-wide receive window: many streams' responses arrive at once, and the
// default 64 KiB would make them wait for each other's WINDOW_UPDATEs. Streams keep the
// default 64 KiB each (nghttp2 acknowledges consumed bytes by itself).
constexpr std::int32_t kConnectionWindowBytes = 1 << 20;

// Request headers that HTTP/2 forbids (RFC 9113 8.2.2) or that name what the pseudo-headers
// already say; a caller's "Host" becomes :authority's business.
bool connection_specific(std::string_view name) {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" || name == "transfer-encoding" ||
         name == "upgrade" || name == "host" || name == "expect" || name == "te" || name == "content-length";
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

nghttp2_nv field(const std::string& name, const std::string& value) {
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

}  // namespace

// nghttp2 calls these from inside mem_recv / mem_send, i.e. from the connection's own
// handlers: they may finish streams (telling the owner) but never close the connection.
struct H2Callbacks {
  static H2Connection& self(void* user) { return *static_cast<H2Connection*>(user); }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) {
    H2Connection& c = self(user);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    H2Request* r = c.find(frame->hd.stream_id);
    if (!r) return 0;
    const std::string_view n(reinterpret_cast<const char*>(name), namelen);
    const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":status") {
      long status = 0;
      std::from_chars(v.data(), v.data() + v.size(), status);
      r->response.status = status;
      r->response.headers.clear();  // a final response after a 1xx starts over
      return 0;
    }
    if (n.starts_with(':')) return 0;
    if (n == "content-length") {
      std::size_t length = 0;
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), length);
      if (ec == std::errc() && length > r->max_response_bytes) {
        c.finish(frame->hd.stream_id, "response_too_large", true);  // before a byte of it arrives
        return 0;
      }
    }
    // HTTP/2 header names arrive lower-cased (nghttp2 rejects others).
    auto [it, inserted] = r->response.headers.emplace(std::string(n), std::string(v));
    if (!inserted) it->second.append(", ").append(v);
    return 0;
  }

  static int on_data(nghttp2_session*, std::uint8_t, std::int32_t stream_id, const std::uint8_t* data, std::size_t len,
                     void* user) {
    H2Connection& c = self(user);
    H2Request* r = c.find(stream_id);
    if (!r) return 0;  // a stream we gave up on; nghttp2 still counts the bytes for flow control
    if (r->response.body.size() + len > r->max_response_bytes) {
      c.finish(stream_id, "response_too_large", true);
      return 0;
    }
    r->response.body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }

  static int on_frame(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    H2Connection& c = self(user);
    if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
      c.settings_received_ = true;
      return 0;
    }
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      // Streams above last_stream_id were not processed: nghttp2 closes them with
      // REFUSED_STREAM (on_stream_close). The ones below may still complete.
      c.goaway_ = true;
      return 0;
    }
    const bool ends = (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
                      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM);
    if (!ends) return 0;
    if (H2Request* r = c.find(frame->hd.stream_id); r && r->response.status >= 200) c.finish(frame->hd.stream_id, {}, false);
    return 0;
  }

  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t code, void* user) {
    H2Connection& c = self(user);
    if (!c.find(stream_id)) return 0;  // finished, detached or never ours
    std::string error;
    if (code == NGHTTP2_REFUSED_STREAM)
      error = "network: " + c.origin_ + " refused the HTTP/2 stream without processing it (GOAWAY or stream limit)";
    else if (code == NGHTTP2_NO_ERROR)
      error = "network: the HTTP/2 stream from " + c.origin_ + " closed before its response ended";
    else
      error = "network: " + c.origin_ + " reset the HTTP/2 stream (" + nghttp2_http2_strerror(code) + ")";
    c.finish(stream_id, std::move(error), false);
    return 0;
  }

  // A request's HEADERS that nghttp2 will not send (e.g. after the server's GOAWAY): the
  // stream never opens, so no on_stream_close follows.
  static int on_not_sent(nghttp2_session*, const nghttp2_frame* frame, int lib_error, void* user) {
    H2Connection& c = self(user);
    if (frame->hd.type != NGHTTP2_HEADERS || !c.find(frame->hd.stream_id)) return 0;
    c.finish(frame->hd.stream_id,
             "network: the HTTP/2 request to " + c.origin_ + " could not be sent (" + nghttp2_strerror(lib_error) + ")",
             false);
    return 0;
  }

  // The request body, read from the caller's string as nghttp2 frames it.
  static ssize_t read_body(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* flags, nghttp2_data_source*, void* user) {
    H2Request* r = self(user).find(stream_id);
    if (!r || !r->body) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets a stream we let go
    const std::size_t n = std::min(length, r->body->size() - r->body_sent);
    std::memcpy(buf, r->body->data() + r->body_sent, n);
    r->body_sent += n;
    if (r->body_sent == r->body->size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
};

std::shared_ptr<H2Connection> H2Connection::open(asio::io_context& io, H2StreamOwner& owner, std::string host,
                                                 std::string port, std::size_t max_streams,
                                                 std::size_t known_server_limit, std::shared_ptr<asio::ssl::context> tls) {
  std::shared_ptr<H2Connection> c(new H2Connection(io, owner, max_streams, known_server_limit, std::move(tls)));
  c->start(std::move(host), std::move(port));
  return c;
}

H2Connection::H2Connection(asio::io_context& io, H2StreamOwner& owner, std::size_t max_streams,
                           std::size_t known_server_limit, std::shared_ptr<asio::ssl::context> tls)
    : socket_(io), resolver_(io), tls_ctx_(std::move(tls)), owner_(&owner), max_streams_(std::max<std::size_t>(1, max_streams)),
      assumed_server_limit_(known_server_limit > 0 ? known_server_limit : max_streams_) {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &H2Callbacks::on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &H2Callbacks::on_data);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &H2Callbacks::on_frame);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &H2Callbacks::on_stream_close);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, &H2Callbacks::on_not_sent);
  nghttp2_option* option = nullptr;
  nghttp2_option_new(&option);
  // A client has no use for closed streams (they only serve the priority tree): without
  // this nghttp2 keeps some after they close, memory for nothing.
  nghttp2_option_set_no_closed_streams(option, 1);
  // How many streams nghttp2 opens before the server's SETTINGS say how many it allows
  // (nghttp2's default is 100); the others wait in nghttp2's queue.
  nghttp2_option_set_peer_max_concurrent_streams(option,
                                                 static_cast<std::uint32_t>(std::min<std::size_t>(
                                                     known_server_limit > 0 ? known_server_limit : 1, UINT32_MAX)));
  nghttp2_session_client_new2(&session_, cbs, this, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(cbs);
  const nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 1);
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindowBytes);
}

H2Connection::~H2Connection() {
  closed_ = true;  // nghttp2_session_del calls no callbacks; this is for certainty
  nghttp2_session_del(session_);
}

void H2Connection::start(std::string host, std::string port) {
  origin_ = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
  host_ = host;
  // A numeric address resolves without a lookup; only names go to the resolver's thread.
  boost::system::error_code ec;
  auto numeric = resolver_.resolve(host, port, tcp::resolver::numeric_host | tcp::resolver::numeric_service, ec);
  if (!ec) return connect(numeric);
  resolver_.async_resolve(host, port, [self = shared_from_this()](boost::system::error_code ec, tcp::resolver::results_type r) {
    if (self->closed_) return;
    if (ec) return self->lost("connect");
    self->connect(r);
  });
}

void H2Connection::connect(const tcp::resolver::results_type& endpoints) {
  asio::async_connect(socket_, endpoints, [self = shared_from_this()](boost::system::error_code ec, const tcp::endpoint&) {
    if (self->closed_) return;
    if (ec) return self->lost("connect");
    boost::system::error_code ignored;
    self->socket_.set_option(tcp::no_delay(true), ignored);  // frames are small and latency-bound
    if (self->tls_ctx_) return self->start_tls();
    self->connected();
  });
}

void H2Connection::start_tls() {
  tls_ = std::make_unique<asio::ssl::stream<tcp::socket>>(std::move(socket_), *tls_ctx_);
  boost::system::error_code ec;
  asio::ip::make_address(host_, ec);
  if (ec) SSL_set_tlsext_host_name(tls_->native_handle(), host_.c_str());  // SNI names hosts, not addresses
  tls_->set_verify_mode(asio::ssl::verify_peer);
  tls_->set_verify_callback(asio::ssl::host_name_verification(host_));
  tls_->async_handshake(asio::ssl::stream_base::client, [self = shared_from_this()](boost::system::error_code ec) {
    if (self->closed_) return;
    if (ec) return self->lost("network: TLS handshake with " + self->origin_ + " failed: " + ec.message());
    const unsigned char* protocol = nullptr;
    unsigned length = 0;
    SSL_get0_alpn_selected(self->tls_->native_handle(), &protocol, &length);
    if (length != 2 || std::memcmp(protocol, "h2", 2) != 0) return self->not_h2();
    self->h2_confirmed_ = true;
    for (auto& [id, r] : self->streams_) r->fallback.reset();  // HTTP/2 it is: no copy needed any more
    self->connected();
  });
}

void H2Connection::connected() {
  connected_ = true;
  in_.resize(kReadBufferBytes);
  read();
  flush();
}

// The server speaks HTTP/1.1 only (ALPN): nothing was sent on this connection yet, so every
// request goes back to the owner as it was, for curl.
void H2Connection::not_h2() {
  auto [owner, streams] = release();
  if (!owner) return;
  owner->origin_without_h2(*this);
  for (auto& [id, r] : streams) owner->stream_fallback(*r);
  owner->connection_closed(*this);
}

H2Connection::Released H2Connection::release() {
  closed_ = true;
  close_socket();
  Released out{std::exchange(owner_, nullptr), std::move(streams_)};
  streams_.clear();
  for (auto& [id, r] : out.streams) r->connection = nullptr;
  return out;
}

void H2Connection::close_socket() {
  boost::system::error_code ignored;
  if (tls_) tls_->lowest_layer().close(ignored);
  socket_.close(ignored);
}

bool H2Connection::accepts() const {
  if (closed_ || goaway_) return false;
  // Until the server's SETTINGS arrive nghttp2 holds the requests it may not send yet in
  // its queue (sent as the limit allows), so a burst while connecting shares one connection.
  const std::size_t limit = settings_received_ ? server_limit() : assumed_server_limit_;
  return streams_.size() < std::min(max_streams_, limit);
}

std::size_t H2Connection::server_limit() const {
  if (!settings_received_) return 0;
  return nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

std::string H2Connection::submit(H2Request& r, const H2RequestHead& head) {
  if (closed_ || goaway_) return "the HTTP/2 connection to " + origin_ + " is closing";
  static const std::string kMethod = ":method", kScheme = ":scheme", kHttp = "http", kAuthority = ":authority",
                           kPath = ":path", kContentLength = "content-length";
  std::vector<std::pair<std::string, std::string>> lowered;  // the nva points into it
  lowered.reserve(head.headers.size());
  for (const auto& [name, value] : head.headers) {
    std::string n = lower(name);
    if (!connection_specific(n)) lowered.emplace_back(std::move(n), value);
  }
  const std::size_t body_bytes = r.body ? r.body->size() : 0;
  const std::string length = std::to_string(body_bytes);
  static const std::string kHttps = "https";
  std::vector<nghttp2_nv> nva{field(kMethod, head.method), field(kScheme, tls_ctx_ ? kHttps : kHttp),
                              field(kAuthority, head.authority),
                              field(kPath, head.path)};
  nva.reserve(5 + lowered.size());
  if (body_bytes > 0 || head.method == "POST" || head.method == "PUT" || head.method == "PATCH")
    nva.push_back(field(kContentLength, length));
  for (const auto& [name, value] : lowered) nva.push_back(field(name, value));

  nghttp2_data_provider provider{};
  provider.read_callback = &H2Callbacks::read_body;
  // nghttp2 copies the header fields; the body is read from r.body as it is framed.
  const std::int32_t id = nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(),
                                                 body_bytes > 0 ? &provider : nullptr, nullptr);
  if (id < 0) {
    goaway_ = true;  // e.g. stream ids used up: new requests go to a new connection
    schedule_flush();
    return std::string("HTTP/2: ") + nghttp2_strerror(id);
  }
  r.stream_id = id;
  r.connection = this;
  streams_[id] = &r;
  schedule_flush();  // posted: a burst of requests goes out in one write
  return {};
}

void H2Connection::detach(H2Request& r) {
  if (streams_.erase(r.stream_id) == 0) return;
  r.connection = nullptr;
  if (closed_) return;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, r.stream_id, NGHTTP2_CANCEL);
  schedule_flush();
}

void H2Connection::close() {
  if (closed_) return;
  closed_ = true;
  owner_ = nullptr;
  streams_.clear();
  resolver_.cancel();
  close_socket();
}

H2Request* H2Connection::find(std::int32_t stream_id) const {
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : it->second;
}

void H2Connection::finish(std::int32_t stream_id, std::string error, bool reset) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  H2Request* r = it->second;
  streams_.erase(it);
  r->connection = nullptr;
  if (reset) nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
  if (owner_) owner_->stream_finished(*r, std::move(error));  // may free *r
}

void H2Connection::read() {
  auto on_read = [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
    if (self->closed_) return;
    if (ec) {
      const bool closed = ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
      const std::string why = closed ? "closed the connection" : "connection lost (" + ec.message() + ")";
      return self->lost("network: " + self->origin_ + " " + why);
    }
    const ssize_t used = nghttp2_session_mem_recv(self->session_, self->in_.data(), n);
    if (used < 0) return self->lost("network: HTTP/2 protocol error from " + self->origin_ + ": " + nghttp2_strerror(static_cast<int>(used)));
    self->flush();  // WINDOW_UPDATE, SETTINGS ACK, PING ACK, RST_STREAM
    if (self->closed_) return;
    self->read();
  };
  with_stream([&](auto& stream) { stream.async_read_some(asio::buffer(in_), std::move(on_read)); });
}

void H2Connection::schedule_flush() {
  if (flush_posted_ || closed_) return;
  flush_posted_ = true;
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->flush_posted_ = false;
    if (!self->closed_) self->flush();
  });
}

void H2Connection::flush() {
  if (closed_ || writing_ || !connected_) return;
  out_.clear();
  const std::uint8_t* data = nullptr;
  while (out_.size() < kMaxWriteBytes) {
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) return lost("network: HTTP/2 error towards " + origin_ + ": " + nghttp2_strerror(static_cast<int>(n)));
    if (n == 0) break;
    out_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
  }
  if (out_.empty()) return close_if_done();
  writing_ = true;
  auto on_written = [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
    self->writing_ = false;
    if (self->closed_) return;
    if (ec) return self->lost("network: connection to " + self->origin_ + " lost (" + ec.message() + ")");
    self->flush();
  };
  with_stream([&](auto& stream) { asio::async_write(stream, asio::buffer(out_), std::move(on_written)); });
}

// After GOAWAY (either way) the connection ends once its last stream has.
void H2Connection::close_if_done() {
  if (closed_ || writing_) return;
  const bool session_over = !nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_);
  if (session_over || (goaway_ && streams_.empty())) lost("network: " + origin_ + " ended the HTTP/2 connection");
}

void H2Connection::lost(const std::string& error) {
  if (closed_) return;
  resolver_.cancel();
  auto [owner, streams] = release();
  if (!owner) return;
  for (auto& [id, r] : streams) owner->stream_finished(*r, error);
  owner->connection_closed(*this);
}

}  // namespace charla::net
