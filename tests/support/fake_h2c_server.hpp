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
#include "support/fake_http_server.hpp"

#include <nghttp2/nghttp2.h>

#include <sys/types.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>

namespace charla::test {

class FakeH2cServer : public FakeServerBase {
 public:
  // Streams one connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS), unless
  // the constructor says otherwise.
  static constexpr std::uint32_t kMaxConcurrentStreams = 1000;

  explicit FakeH2cServer(FakeHandler handler = [](const FakeRequest&) { return FakeReply::text("ok"); },
                         std::uint32_t max_concurrent_streams = kMaxConcurrentStreams)
      : FakeServerBase(std::move(handler)), max_streams_(max_concurrent_streams) {
    listen([this](boost::asio::ip::tcp::socket socket) { std::make_shared<Session>(*this, std::move(socket))->start(); });
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

  class Session : public std::enable_shared_from_this<Session> {
   public:
    Session(FakeH2cServer& server, boost::asio::ip::tcp::socket socket) : server_(server), socket_(std::move(socket)) {}
    ~Session() {
      if (session_) nghttp2_session_del(session_);
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
      stream->timer = std::make_unique<boost::asio::steady_timer>(socket_.get_executor(), reply.delay);
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
      socket_.async_read_some(boost::asio::buffer(in_), [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
        if (ec) return self->close();
        const ssize_t used = nghttp2_session_mem_recv(self->session_, self->in_.data(), n);
        if (used < 0) return self->close();  // not HTTP/2 (or a protocol error): nghttp2 already queued GOAWAY
        self->flush();
        if (!nghttp2_session_want_read(self->session_) && !nghttp2_session_want_write(self->session_)) return self->close();
        self->read();
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
      boost::asio::async_write(socket_, boost::asio::buffer(out_), [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
        self->writing_ = false;
        if (ec) return self->close();
        self->flush();
      });
    }

    void close() {
      if (closed_) return;
      closed_ = true;
      boost::system::error_code ignored;
      socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
      socket_.close(ignored);
      for (auto& [id, s] : streams_)
        if (s->timer) s->timer->cancel();
    }

    FakeH2cServer& server_;
    boost::asio::ip::tcp::socket socket_;
    nghttp2_session* session_ = nullptr;
    std::map<std::int32_t, std::shared_ptr<Stream>> streams_;
    std::array<std::uint8_t, 16384> in_{};
    std::string out_;
    bool writing_ = false;
    bool closed_ = false;
    bool close_after_write_ = false;
  };

  std::uint32_t max_streams_;
};

}  // namespace charla::test
