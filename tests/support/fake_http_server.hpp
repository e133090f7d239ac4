#pragma once
// An HTTP/1.1 server for tests, in-process on its own thread and io_context, bound to
// 127.0.0.1 on a free port. A handler maps each request to a reply; a reply can be
// delayed, or never sent (the connection stays open until the client goes away).
// Keep-alive is honoured, and the server counts requests, accepted connections and
// requests being served at once, and connections open at once, so tests can assert
// connection reuse and concurrency limits.
//
// The handler runs on the server's thread: state it shares with the test must be
// synchronised (atomics, or the server's own counters).
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace charla::test {

using FakeRequest = boost::beast::http::request<boost::beast::http::string_body>;

struct FakeReply {
  unsigned status = 200;
  std::string content_type = "text/plain";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds delay{0};  // wait before answering
  bool hang = false;                   // never answer
  bool close = false;                  // close the connection after answering
  bool chunked = false;                // chunked transfer encoding instead of Content-Length
  bool goaway = false;                 // HTTP/2 only: answer, then GOAWAY (later streams refused)

  static FakeReply text(std::string body, unsigned status = 200) {
    FakeReply r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
  static FakeReply json(std::string body, unsigned status = 200) {
    FakeReply r = text(std::move(body), status);
    r.content_type = "application/json";
    return r;
  }
  static FakeReply never() {
    FakeReply r;
    r.hang = true;
    return r;
  }
  FakeReply& after(std::chrono::milliseconds d) {
    delay = d;
    return *this;
  }
  FakeReply& header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

using FakeHandler = std::function<FakeReply(const FakeRequest&)>;

// What the fake servers (this one and fake_h2c_server.hpp) share: a listener on
// 127.0.0.1 with a free port, the io_context thread, the handler, the requests received
// and the counters tests assert on. A server calls listen() at the end of its
// constructor with how to start a session on an accepted socket, and stop() first in its
// destructor, so no handler runs while its own members are destroyed.
class FakeServerBase {
 public:
  FakeServerBase(const FakeServerBase&) = delete;
  FakeServerBase& operator=(const FakeServerBase&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url(const std::string& path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  void set_handler(FakeHandler handler) {
    std::lock_guard lock(mutex_);
    handler_ = std::move(handler);
  }

  std::size_t requests() const { return requests_; }        // requests (HTTP/2: streams) received
  std::size_t connections() const { return connections_; }  // connections accepted
  std::size_t active() const { return active_; }            // received, not yet answered
  std::size_t max_active() const { return max_active_; }    // high-water mark of active()
  std::vector<FakeRequest> received() const {
    std::lock_guard lock(mutex_);
    return received_;
  }

 protected:
  using SessionStarter = std::function<void(boost::asio::ip::tcp::socket)>;

  explicit FakeServerBase(FakeHandler handler) : handler_(std::move(handler)) {
    namespace asio = boost::asio;
    acceptor_.open(asio::ip::tcp::v4());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind({asio::ip::make_address_v4("127.0.0.1"), 0});
    acceptor_.listen(asio::socket_base::max_listen_connections);
    port_ = acceptor_.local_endpoint().port();
  }
  ~FakeServerBase() { stop(); }

  void listen(SessionStarter start_session) {
    start_session_ = std::move(start_session);
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  void stop() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

  static void raise_max(std::atomic<std::size_t>& high, std::size_t now) {
    std::size_t seen = high;
    while (now > seen && !high.compare_exchange_weak(seen, now)) {
    }
  }

  // Counts and records the request, then asks the handler (on the server's thread).
  FakeReply handle(const FakeRequest& request) {
    requests_++;
    raise_max(max_active_, ++active_);
    FakeHandler handler;
    {
      std::lock_guard lock(mutex_);
      received_.push_back(request);
      handler = handler_;
    }
    return handler(request);
  }

  boost::asio::io_context io_;  // declared first: destroyed last, after every session
  std::atomic<std::size_t> active_{0};

 private:
  void accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, boost::asio::ip::tcp::socket socket) {
      if (ec) return;
      connections_++;
      start_session_(std::move(socket));
      accept();
    });
  }

  boost::asio::ip::tcp::acceptor acceptor_{io_};
  std::uint16_t port_ = 0;
  SessionStarter start_session_;
  mutable std::mutex mutex_;
  FakeHandler handler_;
  std::vector<FakeRequest> received_;
  std::atomic<std::size_t> requests_{0};
  std::atomic<std::size_t> connections_{0};
  std::atomic<std::size_t> max_active_{0};
  std::thread thread_;
};

class FakeHttpServer : public FakeServerBase {
 public:
  explicit FakeHttpServer(FakeHandler handler = [](const FakeRequest&) { return FakeReply::text("ok"); })
      : FakeServerBase(std::move(handler)) {
    listen([this](boost::asio::ip::tcp::socket socket) { std::make_shared<Session>(*this, std::move(socket))->read(); });
  }
  ~FakeHttpServer() { stop(); }

  std::size_t open() const { return open_; }          // connections open now
  std::size_t max_open() const { return max_open_; }  // high-water mark of open()

 private:
  class Session : public std::enable_shared_from_this<Session> {
   public:
    Session(FakeHttpServer& server, boost::asio::ip::tcp::socket socket)
        : server_(server), stream_(std::move(socket)), timer_(stream_.get_executor()) {
      raise_max(server_.max_open_, ++server_.open_);
    }

    void read() {
      parser_.emplace();
      parser_->body_limit(64u << 20);
      boost::beast::http::async_read(stream_, buffer_, *parser_,
                                     [self = shared_from_this()](boost::beast::error_code ec, std::size_t) {
                                       self->on_read(ec);
                                     });
    }

   private:
    void on_read(boost::beast::error_code ec) {
      if (ec) return close();
      FakeRequest request = parser_->release();
      FakeReply reply = server_.handle(request);
      if (reply.hang) {
        // Answer nothing; notice when the client gives up (EOF) and let go then.
        stream_.socket().async_wait(boost::asio::socket_base::wait_read,
                                    [self = shared_from_this()](boost::beast::error_code) {
                                      self->server_.active_--;
                                      self->close();
                                    });
        return;
      }
      if (reply.delay.count() > 0) {
        timer_.expires_after(reply.delay);
        timer_.async_wait([self = shared_from_this(), request = std::move(request),
                           reply = std::move(reply)](boost::beast::error_code) mutable {
          self->write(request, std::move(reply));
        });
        return;
      }
      write(request, std::move(reply));
    }

    void write(const FakeRequest& request, FakeReply reply) {
      namespace http = boost::beast::http;
      response_ = std::make_unique<http::response<http::string_body>>(static_cast<http::status>(reply.status),
                                                                       request.version());
      response_->set(http::field::server, "charla-fake");
      response_->set(http::field::content_type, reply.content_type);
      for (auto& [name, value] : reply.headers) response_->set(name, value);
      response_->body() = std::move(reply.body);
      response_->keep_alive(request.keep_alive() && !reply.close);
      if (request.method() == http::verb::head) {
        response_->content_length(response_->body().size());
        response_->body().clear();
      } else if (reply.chunked) {
        response_->chunked(true);
      } else {
        response_->prepare_payload();
      }
      server_.active_--;
      http::async_write(stream_, *response_, [self = shared_from_this()](boost::beast::error_code ec, std::size_t) {
        bool keep = self->response_->keep_alive();
        self->response_.reset();
        if (ec || !keep) return self->close();
        self->read();
      });
    }

    void close() {
      if (!closed_) server_.open_--;  // every session ends here, except at server shutdown
      closed_ = true;
      boost::beast::error_code ignored;
      stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
      stream_.socket().close(ignored);
    }

    FakeHttpServer& server_;
    bool closed_ = false;
    boost::beast::tcp_stream stream_;
    boost::asio::steady_timer timer_;
    boost::beast::flat_buffer buffer_;
    std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
    std::unique_ptr<boost::beast::http::response<boost::beast::http::string_body>> response_;
  };

  std::atomic<std::size_t> open_{0};
  std::atomic<std::size_t> max_open_{0};
};

}  // namespace charla::test
