// The HTTP server's own defences, over real sockets on 127.0.0.1: handler exceptions,
// slow headers, the connection cap, running out of fds, bearer-protected paths.
#include "http/server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using charla::http::Request;
using charla::http::Respond;
using charla::http::Response;
using charla::http::Server;
using charla::http::ServerOptions;
namespace beast_http = charla::http::beast_http;

namespace {

// A blocking client socket with a receive timeout, so no test can hang on it.
class Client {
 public:
  Client() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    timeval tv{3, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  Client(Client&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  bool connect(unsigned short port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  void send(const std::string& bytes) { (void)!::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL); }
  // Everything until the server closes (or the 3 s timeout).
  std::string read_all() {
    std::string out;
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  // True if the server closed the connection (recv returns 0 or a reset).
  bool closed_by_server() {
    char c;
    ssize_t n = ::recv(fd_, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

std::string get(unsigned short port, const std::string& path, const std::string& extra_headers = "") {
  Client c;
  if (!c.connect(port)) return "connect failed";
  c.send("GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + extra_headers + "\r\n");
  return c.read_all();
}

int status_of(const std::string& response) {
  return response.size() > 12 && response.starts_with("HTTP/1.1 ") ? std::stoi(response.substr(9, 3)) : 0;
}

void ok_route(Server& server, const std::string& path) {
  server.route(beast_http::verb::get, path, [](Request&, Respond respond) { respond(Response::json(200, "{}")); });
}

ServerOptions options() {
  ServerOptions o;
  o.port = 0;
  return o;
}

}  // namespace

TEST_CASE("http server: a handler that throws gets a 500 and the server keeps serving", "[http]") {
  Server server(options());
  server.route(beast_http::verb::get, "/boom", [](Request&, Respond) { throw std::runtime_error("bad row"); });
  server.route(beast_http::verb::get, "/late", [](Request&, Respond respond) {
    respond(Response::json(200, R"({"first":true})"));
    throw std::runtime_error("after answering");
  });
  ok_route(server, "/healthz");
  server.start();

  for (int i = 0; i < 3; ++i) {  // more throws than the one server thread
    auto r = get(server.port(), "/boom");
    CHECK(status_of(r) == 500);
    CHECK_THAT(r, Catch::Contains(R"({"error":"internal error"})"));
  }
  auto late = get(server.port(), "/late");
  CHECK(status_of(late) == 200);  // answered once, not followed by a 500
  CHECK_THAT(late, Catch::Contains(R"({"first":true})"));
  CHECK(status_of(get(server.port(), "/healthz")) == 200);
  CHECK(server.stats().handler_errors == 4);
  server.stop();
}

TEST_CASE("http server: a response that cannot be written becomes a 500, now or later", "[http]") {
  Server server(options());
  const std::string huge(70'000, 'h');  // Beast refuses header values over 64 KiB
  server.route(beast_http::verb::get, "/now", [&](Request&, Respond respond) {
    Response res = Response::json(200, "{}");
    res.headers.emplace_back("X-Huge", huge);
    respond(std::move(res));  // written inline, inside the handler
  });
  std::vector<std::thread> later;
  server.route(beast_http::verb::get, "/later", [&](Request&, Respond respond) {
    later.emplace_back([&huge, respond] {  // written from a completion handler on the loop
      std::this_thread::sleep_for(20ms);
      Response res = Response::json(200, "{}");
      res.headers.emplace_back("X-Huge", huge);
      respond(std::move(res));
    });
  });
  ok_route(server, "/healthz");
  server.start();
  CHECK(status_of(get(server.port(), "/now")) == 500);
  CHECK(status_of(get(server.port(), "/later")) == 500);
  CHECK(status_of(get(server.port(), "/healthz")) == 200);
  CHECK(server.stats().handler_errors == 2);
  for (auto& t : later) t.join();
}

TEST_CASE("http server: headers must arrive within header_timeout", "[http]") {
  auto o = options();
  o.header_timeout = 300ms;
  Server server(o);
  ok_route(server, "/healthz");
  server.start();
  Client slow;
  REQUIRE(slow.connect(server.port()));
  const auto t0 = std::chrono::steady_clock::now();
  slow.send("GET /healthz HTTP/1.1\r\nHo");
  std::this_thread::sleep_for(150ms);
  slow.send("st: x\r\n");  // trickling bytes does not extend the deadline
  CHECK(slow.closed_by_server());
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  CHECK(status_of(get(server.port(), "/healthz")) == 200);
}

TEST_CASE("http server: at the connection cap, an idle connection makes room for a request", "[http]") {
  auto o = options();
  o.max_connections = 4;
  Server server(o);
  ok_route(server, "/healthz");
  server.start();
  std::vector<Client> idle(6);
  for (auto& c : idle) {
    REQUIRE(c.connect(server.port()));
    c.send("GET /healthz HTTP/1.1\r\n");  // and never the rest
  }
  // The 5th and 6th idle ones and the first request each close the oldest idle one;
  // once that request is answered there is room again.
  for (int i = 0; i < 3; ++i) CHECK(status_of(get(server.port(), "/healthz")) == 200);
  auto stats = server.stats();
  CHECK(stats.max_connections == 4);
  CHECK(stats.evicted_connections >= 3);
  CHECK(stats.refused_connections == 0);
  for (int i = 0; i < 3; ++i) CHECK(idle[i].closed_by_server());  // the oldest went first
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  while (server.stats().open_connections > 4 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  CHECK(server.stats().open_connections <= 4);
}

TEST_CASE("http server: out of fds, accept backs off instead of spinning", "[http]") {
  Server server(options());
  ok_route(server, "/healthz");
  server.start();
  std::vector<Client> clients(8);
  Client probe;  // created now: no fd is left for it later

  rlimit saved{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
  int highest = probe.fd();
  for (auto& c : clients) highest = std::max(highest, c.fd());
  rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(highest + 1);  // every fd number in use up to here
  REQUIRE(setrlimit(RLIMIT_NOFILE, &tight) == 0);
  for (auto& c : clients) CHECK(c.connect(server.port()));  // queued in the backlog

  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  std::this_thread::sleep_for(1s);
  getrusage(RUSAGE_SELF, &after);
  setrlimit(RLIMIT_NOFILE, &saved);
  auto cpu = [](const rusage& r) {
    return r.ru_utime.tv_sec + r.ru_stime.tv_sec + (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
  };
  CHECK(cpu(after) - cpu(before) < 0.3);  // a spinning accept loop burns the whole second
  CHECK(server.stats().accept_errors >= 1);

  REQUIRE(probe.connect(server.port()));  // fds back: the server accepts again
  probe.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(status_of(probe.read_all()) == 200);
}

TEST_CASE("http server: a bearer-protected path needs the token", "[http]") {
  Server server(options());
  ok_route(server, "/metrics");
  ok_route(server, "/healthz");
  server.require_bearer("/metrics", "s3cret");
  server.start();
  CHECK(status_of(get(server.port(), "/metrics")) == 401);
  CHECK(status_of(get(server.port(), "/metrics", "Authorization: Bearer wrong\r\n")) == 401);
  CHECK(status_of(get(server.port(), "/metrics", "Authorization: Bearer s3cret-and-more\r\n")) == 401);
  CHECK(status_of(get(server.port(), "/metrics", "Authorization: Bearer s3cret\r\n")) == 200);
  CHECK(status_of(get(server.port(), "/healthz")) == 200);
}

// http.threads: with two threads, a handler that holds its thread (a slow admin call)
// does not stop another request from being read and answered meanwhile.
TEST_CASE("http server: with two threads a busy handler does not block other requests", "[http]") {
  auto o = options();
  o.threads = 2;
  Server server(o);
  std::atomic<bool> released{false};
  server.route(beast_http::verb::get, "/slow", [&](Request&, Respond respond) {
    const auto until = std::chrono::steady_clock::now() + 3s;  // bounded even if never released
    while (!released && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(5ms);
    respond(Response::json(200, released ? R"({"released":true})" : R"({"released":false})"));
  });
  server.route(beast_http::verb::get, "/release", [&](Request&, Respond respond) {
    released = true;
    respond(Response::json(200, "{}"));
  });
  server.start();
  std::string slow;
  std::thread t([&] { slow = get(server.port(), "/slow"); });
  std::this_thread::sleep_for(100ms);  // /slow is being handled
  CHECK(status_of(get(server.port(), "/release")) == 200);
  t.join();
  CHECK_THAT(slow, Catch::Contains(R"({"released":true})"));
  server.stop();
}
