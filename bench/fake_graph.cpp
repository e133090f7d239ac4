// fake_graph: a minimal, fast fake of the WhatsApp Graph API for benchmarks.
//
//   POST /<version>/<phone-number-id>/messages  -> 200 with the real success body
//        {"messaging_product":"whatsapp","contacts":[{"input":..,"wa_id":..}],
//         "messages":[{"id":"wamid.<unique>"}]}
//   GET  /stats                                 -> {"requests":N,"first_ms":..,"last_ms":..,
//                                                   "per_second":[..]} (counting only sends)
//   anything else                               -> 404
//
// Counts sends per wall-clock second since start so the end-to-end rate (webhook ->
// turn -> commit -> Graph 200) can be read off. Handles `Expect: 100-continue`, which
// libcurl 7.x sends for bodies over 1 KiB.
//
//   fake_graph [--port 18082] [--bind 127.0.0.1] [--threads 1] [--seconds 600] [--quiet 1]
//
// Exits on SIGINT/SIGTERM or after --seconds and prints the stats JSON on stdout.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Steady = std::chrono::steady_clock;

namespace {

constexpr std::size_t kSeconds = 3600;
const Steady::time_point g_start = Steady::now();
std::atomic<std::uint64_t> g_sends{0}, g_other{0}, g_continues{0};
std::atomic<std::int64_t> g_first_ms{-1}, g_last_ms{-1};
std::array<std::atomic<std::uint64_t>, kSeconds> g_per_second{};

std::int64_t ms_since_start() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - g_start).count();
}

void count_send() {
  auto ms = ms_since_start();
  std::int64_t expected = -1;
  g_first_ms.compare_exchange_strong(expected, ms);
  g_last_ms = ms;
  ++g_sends;
  auto s = static_cast<std::size_t>(ms / 1000);
  if (s < kSeconds) ++g_per_second[s];
}

std::string stats_json() {
  std::ostringstream o;
  auto last = g_last_ms.load();
  auto first = g_first_ms.load();
  o << "{\"requests\":" << g_sends.load() << ",\"other_requests\":" << g_other.load()
    << ",\"expect_100_continue\":" << g_continues.load() << ",\"first_ms\":" << first << ",\"last_ms\":" << last
    << ",\"now_ms\":" << ms_since_start() << ",\"per_second\":[";
  if (first >= 0) {
    for (auto s = static_cast<std::size_t>(first / 1000); s <= static_cast<std::size_t>(last / 1000) && s < kSeconds; ++s)
      o << (s > static_cast<std::size_t>(first / 1000) ? "," : "") << g_per_second[s].load();
  }
  o << "]}";
  return o.str();
}

// The recipient as sent ("to":"..."), for the contacts block of the answer.
std::string recipient(const std::string& body) {
  auto k = body.find("\"to\"");
  if (k == std::string::npos) return "0";
  auto q1 = body.find('"', body.find(':', k) + 1);
  auto q2 = q1 == std::string::npos ? q1 : body.find('"', q1 + 1);
  if (q2 == std::string::npos) return "0";
  return body.substr(q1 + 1, q2 - q1 - 1);
}

bool is_send_path(std::string_view target) {
  // /<version>/<id>/messages
  constexpr std::string_view suffix = "/messages";
  return target.size() > suffix.size() && target.substr(target.size() - suffix.size()) == suffix &&
         target.size() > 2 && target[0] == '/' && target[1] == 'v';
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket socket) : stream_(std::move(socket)) {}
  void run() { asio::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::do_read, shared_from_this())); }

 private:
  void do_read() {
    parser_.emplace();
    parser_->body_limit(8u << 20);
    stream_.expires_after(std::chrono::seconds(120));
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t) {
    if (ec) return close();
    auto& req = parser_->get();
    if (beast::iequals(req[http::field::expect], "100-continue")) {
      ++g_continues;
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
      return http::async_write(stream_, *cont, [self = shared_from_this(), cont](beast::error_code wec, std::size_t) {
        if (wec) return self->close();
        self->read_body();
      });
    }
    read_body();
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return close();
    auto req = parser_->release();
    auto res = std::make_shared<http::response<http::string_body>>(http::status::ok, req.version());
    res->set(http::field::content_type, "application/json");
    std::string_view target(req.target().data(), req.target().size());
    if (req.method() == http::verb::post && is_send_path(target)) {
      count_send();
      auto to = recipient(req.body());
      auto id = ++next_id_ + (serial_base_ << 40);
      res->body() = R"({"messaging_product":"whatsapp","contacts":[{"input":")" + to + R"(","wa_id":")" + to +
                    R"("}],"messages":[{"id":"wamid.FAKEGRAPH)" + std::to_string(id) + R"("}]})";
    } else if (req.method() == http::verb::get && target == "/stats") {
      res->body() = stats_json();
    } else {
      ++g_other;
      res->result(http::status::not_found);
      res->body() = R"({"error":{"message":"unknown path","type":"OAuthException","code":100}})";
    }
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

  static inline std::atomic<std::uint64_t> sessions_{0};
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::uint64_t serial_base_ = ++sessions_;
  std::uint64_t next_id_ = 0;
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
  unsigned short port = 18082;
  int threads = 1;
  int seconds = 600;
  bool quiet = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--port") port = static_cast<unsigned short>(std::stoi(argv[i + 1]));
    else if (k == "--bind") bind = argv[i + 1];
    else if (k == "--threads") threads = std::max(1, std::stoi(argv[i + 1]));
    else if (k == "--seconds") seconds = std::stoi(argv[i + 1]);
    else if (k == "--quiet") quiet = std::string(argv[i + 1]) != "0";
    else {
      std::cerr << "usage: fake_graph [--port N] [--bind ADDR] [--threads N] [--seconds N] [--quiet 0|1]\n";
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
  // Once a second: the sends of the last second, on stderr.
  asio::steady_timer ticker(io);
  std::uint64_t last_count = 0;
  std::function<void()> tick = [&] {
    ticker.expires_after(std::chrono::seconds(1));
    ticker.async_wait([&](beast::error_code ec) {
      if (ec) return;
      auto n = g_sends.load();
      if (!quiet && n != last_count) std::cerr << "fake_graph: " << n << " sends, " << (n - last_count) << "/s\n";
      last_count = n;
      tick();
    });
  };
  tick();
  std::cerr << "fake_graph: listening on " << bind << ":" << acceptor.local_endpoint().port() << "\n";

  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();
  std::cout << stats_json() << std::endl;
  return 0;
}
