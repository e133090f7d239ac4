// hello_server: a bare Boost.Beast async HTTP server that answers 200 "ok" to any
// request. It is the ceiling for charla's webhook intake: same Beast version, same
// build flags, same connection shape as engine/http/server.cpp (http_server_async:
// one strand per connection, string_body parser with a body limit, an idle timeout,
// keep-alive), but no routing, no signature check, no JSON and no store.
//
//   hello_server [--port 18081] [--bind 127.0.0.1] [--threads 1] [--seconds 600]
//
// Exits on SIGINT/SIGTERM or after --seconds; prints the request count as JSON.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

std::atomic<std::uint64_t> g_requests{0};

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket socket) : stream_(std::move(socket)) {}
  void run() { asio::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::do_read, shared_from_this())); }

 private:
  void do_read() {
    parser_.emplace();
    parser_->body_limit(3u << 20);
    stream_.expires_after(std::chrono::seconds(60));
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return close();
    auto req = parser_->release();
    ++g_requests;
    auto res = std::make_shared<http::response<http::string_body>>(http::status::ok, req.version());
    res->set(http::field::server, "hello");
    res->set(http::field::content_type, "text/plain");
    res->body() = "ok";
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
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
};

void do_accept(asio::io_context& io, tcp::acceptor& acceptor) {
  acceptor.async_accept(asio::make_strand(io), [&io, &acceptor](beast::error_code ec, tcp::socket socket) {
    if (!acceptor.is_open()) return;
    if (!ec) std::make_shared<Session>(std::move(socket))->run();
    do_accept(io, acceptor);
  });
}

}  // namespace

int main(int argc, char** argv) {
  std::string bind = "127.0.0.1";
  unsigned short port = 18081;
  int threads = 1;
  int seconds = 600;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--port") port = static_cast<unsigned short>(std::stoi(argv[i + 1]));
    else if (k == "--bind") bind = argv[i + 1];
    else if (k == "--threads") threads = std::max(1, std::stoi(argv[i + 1]));
    else if (k == "--seconds") seconds = std::stoi(argv[i + 1]);
    else {
      std::cerr << "usage: hello_server [--port N] [--bind ADDR] [--threads N] [--seconds N]\n";
      return 2;
    }
  }
  asio::io_context io;
  tcp::acceptor acceptor(io);
  tcp::endpoint ep(asio::ip::make_address(bind), port);
  acceptor.open(ep.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(ep);
  acceptor.listen(asio::socket_base::max_listen_connections);
  do_accept(io, acceptor);

  auto stop = [&] {
    beast::error_code ec;
    acceptor.close(ec);
    io.stop();
  };
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](beast::error_code, int) { stop(); });
  asio::steady_timer limit(io, std::chrono::seconds(seconds));
  limit.async_wait([&](beast::error_code ec) {
    if (!ec) stop();
  });
  std::cerr << "hello_server: listening on " << bind << ":" << acceptor.local_endpoint().port() << "\n";

  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();
  std::cout << R"({"server":"hello","requests":)" << g_requests.load() << "}" << std::endl;
  return 0;
}
