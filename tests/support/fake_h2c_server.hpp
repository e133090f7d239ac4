#pragma once
// An HTTP/2 server without TLS (h2c, "prior knowledge": the client starts with the
// HTTP/2 preface, no Upgrade) for tests and benchmarks, in-process on its own thread and
// io_context, bound to 127.0.0.1 on a free port. Framing is libnghttp2's, so clients
// meet a real HTTP/2 peer. It takes the same handler and replies as FakeHttpServer
// (delay, never answer, status, headers), and counts connections and streams, so a test
// can assert that many requests shared one connection.
//
// The handler runs on the server's thread: state it shares with the test must be
// synchronised. `chunked` of FakeReply means nothing in HTTP/2 and is ignored; `close`
// closes the TCP connection once the reply is written, without GOAWAY (every other stream
// on it is lost, as when a server or proxy drops a connection); `goaway` answers, then
// sends GOAWAY naming this stream as the last processed (the client's later streams on
// this connection are refused).
//
// With FakeTls it speaks TLS instead (a certificate from tests/fixtures/tls/): HTTP/2 when
// the client offers "h2" in ALPN, else (or with http1_only) HTTP/1.1 over TLS through
// Beast, with the same handler and counters.
#include "support/fake_http_server.hpp"

#include <boost/asio/ssl.hpp>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include <sys/types.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <map>
#include <optional>
#include <string_view>

namespace charla::test {

struct FakeTls {
  std::string cert_file;  // PEM, with the key in key_file
  std::string key_file;
  bool http1_only = false;  // pick "http/1.1" in ALPN even when "h2" is offered
};

class FakeH2cServer : public FakeServerBase {
 public:
  // Streams one connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS), unless
  // the constructor says otherwise.
  static constexpr std::uint32_t kMaxConcurrentStreams = 1000;

  explicit FakeH2cServer(FakeHandler handler = [](const FakeRequest&) { return FakeReply::text("ok"); },
                         std::uint32_t max_concurrent_streams = kMaxConcurrentStreams, std::optional<FakeTls> tls = {})
      : FakeServerBase(std::move(handler)), max_streams_(max_concurrent_streams) {
    if (tls) {
      tls_ = std::make_unique<boost::asio::ssl::context>(boost::asio::ssl::context::tls_server);
      tls_->use_certificate_chain_file(tls->cert_file);
      tls_->use_private_key_file(tls->key_file, boost::asio::ssl::context::pem);
      http1_only_ = tls->http1_only;
      SSL_CTX_set_alpn_select_cb(tls_->native_handle(), &FakeH2cServer::select_alpn, this);
    }
    listen([this](boost::asio::ip::tcp::socket socket) {
      auto session = std::make_shared<Session>(*this, std::move(socket));
      if (tls_) session->handshake(*tls_);
      else session->start();
    });
  }
  // The URL with a host name, for TLS (the fixture certificate names "localhost").
  std::string https_url(const std::string& path = "/", const std::string& host = "localhost") const {
    return "https://" + host + ":" + std::to_string(port()) + path;
  }
  ~FakeH2cServer() { stop(); }

 private:
  struct Stream {
    FakeRequest request;
    std::string response_body;
    std::size_t sent = 0;
    bool answered = false;
    std::unique_ptr<boost::asio::steady_timer> timer;
  };

  static int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen,
                         void* user) {
    auto* self = static_cast<FakeH2cServer*>(user);
    for (const std::string_view want : {std::string_view("h2"), std::string_view("http/1.1")}) {
      if (want == "h2" && self->http1_only_) continue;
      for (unsigned i = 0; i < inlen; i += 1u + in[i]) {
        if (std::string_view(reinterpret_cast<const char*>(in + i + 1), in[i]) == want) {
          *out = in + i + 1;
          *outlen = in[i];
          return SSL_TLSEXT_ERR_OK;
        }
      }
    }
    return SSL_TLSEXT_ERR_NOACK;
  }

  class Session : public std::enable_shared_from_this<Session> {
   public:
    Session(FakeH2cServer& server, boost::asio::ip::tcp::socket socket) : server_(server), socket_(std::move(socket)) {}
    ~Session() {
      if (session_) nghttp2_session_del(session_);
    }

    void handshake(boost::asio::ssl::context& ctx) {
      tls_ = std::make_unique<boost::asio::ssl::stream<boost::asio::ip::tcp::socket>>(std::move(socket_), ctx);
      tls_->async_handshake(boost::asio::ssl::stream_base::server, [self = shared_from_this()](boost::system::error_code ec) {
        if (ec) return self->close();
        const unsigned char* protocol = nullptr;
        unsigned length = 0;
        SSL_get0_alpn_selected(self->tls_->native_handle(), &protocol, &length);
        if (length == 2 && std::memcmp(protocol, "h2", 2) == 0) return self->start();
        self->read_http1();
      });
    }

    void start() {
      nghttp2_session_callbacks* cbs = nullptr;
      nghttp2_session_callbacks_new(&cbs);
      nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &Session::on_begin_headers);
      nghttp2_session_callbacks_set_on_header_callback(cbs, &Session::on_header);
      nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Session::on_data);
      nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Session::on_frame);
      nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Session::on_stream_close);
      nghttp2_session_server_new(&session_, cbs, this);
      nghttp2_session_callbacks_del(cbs);
      const nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, server_.max_streams_}};
      nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 1);
      flush();
      read();
    }

   private:
    static Session& self(void* user) { return *static_cast<Session*>(user); }

    static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
      if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
        self(user).streams_[frame->hd.stream_id] = std::make_shared<Stream>();
      return 0;
    }

    static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                         const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) {
      auto it = self(user).streams_.find(frame->hd.stream_id);
      if (it == self(user).streams_.end()) return 0;
      const std::string n(reinterpret_cast<const char*>(name), namelen);
      const std::string v(reinterpret_cast<const char*>(value), valuelen);
      FakeRequest& r = it->second->request;
      if (n == ":method") r.method(boost::beast::http::string_to_verb(v));
      else if (n == ":path") r.target(v);
      else if (n == ":authority") r.set(boost::beast::http::field::host, v);
      else if (!n.starts_with(":")) r.set(n, v);
      return 0;
    }

    static int on_data(nghttp2_session*, std::uint8_t, std::int32_t stream_id, const std::uint8_t* data, std::size_t len,
                       void* user) {
      auto it = self(user).streams_.find(stream_id);
      if (it != self(user).streams_.end()) it->second->request.body().append(reinterpret_cast<const char*>(data), len);
      return 0;
    }

    static int on_frame(nghttp2_session*, const nghttp2_frame* frame, void* user) {
      const bool request_done = (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
                                (frame->hd.flags & NGHTTP2_FLAG_END_STREAM);
      if (request_done) self(user).on_request(frame->hd.stream_id);
      return 0;
    }

    static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t, void* user) {
      Session& s = self(user);
      auto it = s.streams_.find(stream_id);
      if (it == s.streams_.end()) return 0;
      if (!it->second->answered) s.server_.active_--;  // the client reset it (e.g. a timeout)
      s.streams_.erase(it);
      return 0;
    }

    static ssize_t read_body(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length, std::uint32_t* flags,
                             nghttp2_data_source* source, void*) {
      auto* stream = static_cast<Stream*>(source->ptr);
      const std::size_t n = std::min(length, stream->response_body.size() - stream->sent);
      std::copy_n(stream->response_body.data() + stream->sent, n, buf);
      stream->sent += n;
      if (stream->sent == stream->response_body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
      return static_cast<ssize_t>(n);
    }

    void on_request(std::int32_t stream_id) {
      auto it = streams_.find(stream_id);
      if (it == streams_.end()) return;
      std::shared_ptr<Stream> stream = it->second;
      stream->request.version(20);
      stream->request.prepare_payload();
      FakeReply reply = server_.handle(stream->request);
      if (reply.hang) return;  // answered never; the stream ends when the client resets it
      if (reply.delay.count() == 0) return respond(stream_id, std::move(reply));
      stream->timer = std::make_unique<boost::asio::steady_timer>(server_.io_.get_executor(), reply.delay);
      stream->timer->async_wait([self = shared_from_this(), stream_id, reply = std::move(reply)](boost::system::error_code ec) mutable {
        if (!ec) self->respond(stream_id, std::move(reply));
      });
    }

    void respond(std::int32_t stream_id, FakeReply reply) {
      auto it = streams_.find(stream_id);
      if (it == streams_.end()) return;  // reset by the client meanwhile
      Stream& stream = *it->second;
      stream.answered = true;
      server_.active_--;
      stream.response_body = std::move(reply.body);
      std::vector<std::pair<std::string, std::string>> fields{
          {":status", std::to_string(reply.status)}, {"server", "charla-fake"}, {"content-type", reply.content_type},
          {"content-length", std::to_string(stream.response_body.size())}};
      for (auto& [name, value] : reply.headers) {
        std::string lower = name;
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        fields.emplace_back(std::move(lower), value);
      }
      std::vector<nghttp2_nv> nva;
      for (auto& [name, value] : fields)
        nva.push_back({reinterpret_cast<std::uint8_t*>(name.data()), reinterpret_cast<std::uint8_t*>(value.data()),
                       name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
      nghttp2_data_provider body{};
      body.source.ptr = &stream;
      body.read_callback = &Session::read_body;
      nghttp2_submit_response(session_, stream_id, nva.data(), nva.size(), &body);  // copies the header fields
      if (reply.goaway) nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_NO_ERROR, nullptr, 0);
      if (reply.close) close_after_write_ = true;
      flush();
    }

    void read() {
      auto on_read = [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
        if (ec) return self->close();
        const ssize_t used = nghttp2_session_mem_recv(self->session_, self->in_.data(), n);
        if (used < 0) return self->close();  // not HTTP/2 (or a protocol error): nghttp2 already queued GOAWAY
        self->flush();
        if (!nghttp2_session_want_read(self->session_) && !nghttp2_session_want_write(self->session_)) return self->close();
        self->read();
      };
      if (tls_) tls_->async_read_some(boost::asio::buffer(in_), std::move(on_read));
      else socket_.async_read_some(boost::asio::buffer(in_), std::move(on_read));
    }

    // HTTP/1.1 over TLS (ALPN picked it): one request at a time, kept alive.
    void read_http1() {
      http1_request_ = {};
      boost::beast::http::async_read(*tls_, http1_buffer_, http1_request_, [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
        if (ec) return self->close();
        FakeReply reply = self->server_.handle(self->http1_request_);
        self->server_.active_--;
        namespace http = boost::beast::http;
        self->http1_response_ = {static_cast<http::status>(reply.status), 11};
        self->http1_response_.set(http::field::server, "charla-fake");
        self->http1_response_.set(http::field::content_type, reply.content_type);
        for (auto& [name, value] : reply.headers) self->http1_response_.set(name, value);
        self->http1_response_.body() = std::move(reply.body);
        self->http1_response_.prepare_payload();
        http::async_write(*self->tls_, self->http1_response_, [self](boost::system::error_code ec, std::size_t) {
          if (ec) return self->close();
          self->read_http1();
        });
      });
    }

    // Moves everything nghttp2 wants to send into one write; one write in flight at a time.
    void flush() {
      if (writing_ || closed_) return;
      out_.clear();
      const std::uint8_t* data = nullptr;
      for (ssize_t n; (n = nghttp2_session_mem_send(session_, &data)) > 0;) out_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
      if (out_.empty()) {
        if (close_after_write_) close();
        return;
      }
      writing_ = true;
      auto on_written = [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
        self->writing_ = false;
        if (ec) return self->close();
        self->flush();
      };
      if (tls_) boost::asio::async_write(*tls_, boost::asio::buffer(out_), std::move(on_written));
      else boost::asio::async_write(socket_, boost::asio::buffer(out_), std::move(on_written));
    }

    void close() {
      if (closed_) return;
      closed_ = true;
      boost::system::error_code ignored;
      auto& socket = tls_ ? tls_->next_layer() : socket_;
      socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
      for (auto& [id, s] : streams_)
        if (s->timer) s->timer->cancel();
    }

    FakeH2cServer& server_;
    boost::asio::ip::tcp::socket socket_;  // moved into tls_ for TLS
    std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket>> tls_;
    boost::beast::flat_buffer http1_buffer_;
    FakeRequest http1_request_;
    boost::beast::http::response<boost::beast::http::string_body> http1_response_;
    nghttp2_session* session_ = nullptr;
    std::map<std::int32_t, std::shared_ptr<Stream>> streams_;
    std::array<std::uint8_t, 16384> in_{};
    std::string out_;
    bool writing_ = false;
    bool closed_ = false;
    bool close_after_write_ = false;
  };

  std::uint32_t max_streams_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
  bool http1_only_ = false;
};

}  // namespace charla::test
