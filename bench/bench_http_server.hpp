#pragma once
// The HTTP server shared by the benchmark servers (hello_server, fake_graph), so that
// both measure the same connection handling and differ only in what they answer.
//
// Connections follow Beast's http_server_async, like engine/http/server.cpp: one
// strand per connection, a string_body parser with an explicit body limit, an idle
// timeout, keep-alive, one write outstanding. The answer comes from a Respond
// callback. BenchServer::run serves until SIGINT/SIGTERM or a time limit.
//
// Invariant: the server outlives every session (sessions keep references to its
// options and callback; they are destroyed with the io_context, which the server
// owns and destroys first).
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace charla::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

// Fills in the response, which starts as 200 with the request's HTTP version;
// keep-alive and Content-Length are set afterwards.
using Respond = std::function<void(const Request&, Response&)>;

struct SessionOptions {
  std::uint64_t body_limit = 3u << 20;
  std::chrono::seconds idle_timeout{60};
  // Read the header first and answer `Expect: 100-continue` before reading the body
  // (libcurl 7.x sends it for bodies over 1 KiB). Off: the request is read in one go,
  // as engine/http/server.cpp does.
  bool answer_expect_continue = false;
  std::function<void()> on_continue;  // called once per 100 Continue sent
};

// The command-line flags every bench server takes: --port, --bind, --threads, --seconds.
struct ServerFlags {
  std::string bind = "127.0.0.1";
  unsigned short port = 0;
  int threads = 1;
  int seconds = 600;

  // True when `key` is one of these flags (and `value` was taken).
  bool take(std::string_view key, const char* value) {
    if (key == "--port") port = static_cast<unsigned short>(std::stoi(value));
    else if (key == "--bind") bind = value;
    else if (key == "--threads") threads = std::max(1, std::stoi(value));
    else if (key == "--seconds") seconds = std::stoi(value);
    else return false;
    return true;
  }
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const SessionOptions& options, const Respond& respond)
      : stream_(std::move(socket)), options_(options), respond_(respond) {}
  void run() { asio::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::do_read, shared_from_this())); }

 private:
  void do_read() {
    parser_.emplace();
    parser_->body_limit(options_.body_limit);
    stream_.expires_after(options_.idle_timeout);
    if (options_.answer_expect_continue)
      http::async_read_header(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_header, shared_from_this()));
    else
      read_body();
  }

  void on_header(beast::error_code ec, std::size_t) {
    if (ec) return close();
    if (!beast::iequals(parser_->get()[http::field::expect], "100-continue")) return read_body();
    if (options_.on_continue) options_.on_continue();
    auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
    http::async_write(stream_, *cont, [self = shared_from_this(), cont](beast::error_code wec, std::size_t) {
      if (wec) return self->close();
      self->read_body();
    });
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return close();
    const Request req = parser_->release();
    auto res = std::make_shared<Response>(http::status::ok, req.version());
    respond_(req, *res);
    res->keep_alive(req.keep_alive());
    res->prepare_payload();
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code wec, std::size_t) {
      if (wec || !res->keep_alive()) return self->close();
      self->do_read();
    });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  const SessionOptions& options_;
  const Respond& respond_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
};

class BenchServer {
 public:
  // Listens at once (so port() is known before run()); throws if the address is taken.
  BenchServer(const ServerFlags& flags, SessionOptions options, Respond respond)
      : options_(std::move(options)), respond_(std::move(respond)) {
    const tcp::endpoint ep(asio::ip::make_address(flags.bind), flags.port);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen(asio::socket_base::max_listen_connections);
    accept();
  }

  asio::io_context& io() { return io_; }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }

  // Serves on `threads` threads until SIGINT/SIGTERM or until `seconds` have passed.
  void run(int threads, int seconds) {
    auto stop = [this] {
      beast::error_code ec;
      acceptor_.close(ec);
      io_.stop();
    };
    asio::signal_set signals(io_, SIGINT, SIGTERM);
    signals.async_wait([stop](beast::error_code, int) { stop(); });
    asio::steady_timer limit(io_, std::chrono::seconds(seconds));
    limit.async_wait([stop](beast::error_code ec) {
      if (!ec) stop();
    });
    std::vector<std::thread> pool;
    for (int i = 1; i < threads; ++i) pool.emplace_back([this] { io_.run(); });
    io_.run();
    for (auto& t : pool) t.join();
  }

 private:
  void accept() {
    acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
      if (!acceptor_.is_open()) return;
      if (!ec) std::make_shared<Session>(std::move(socket), options_, respond_)->run();
      accept();
    });
  }

  // Declared before io_ so that they outlive the sessions io_ destroys.
  const SessionOptions options_;
  const Respond respond_;
  asio::io_context io_;
  tcp::acceptor acceptor_{io_};
};

}  // namespace charla::bench
