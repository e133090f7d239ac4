// HttpClient's h2c requests (net/h2_client.hpp, net/h2_connection.hpp): HTTP/2 without TLS
// on charla's own nghttp2 connections, against a real HTTP/2 server (libnghttp2, on
// 127.0.0.1). The same contract as over curl: every callback once, on the loop, never
// inside request(); errors "timeout", "cancelled", "response_too_large", "connect",
// "network: ..."; and many requests multiplexed on one connection.
#include "net/h2_client.hpp"
#include "net/http_client.hpp"
#include "support/closed_port.hpp"
#include "support/fake_h2c_server.hpp"
#include "support/io_loop.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <optional>
#include <set>

using namespace std::chrono_literals;
using charla::net::HttpClient;
using charla::net::HttpClientOptions;
using charla::net::HttpRequest;
using charla::net::HttpResponse;
using charla::net::HttpVersion;
using charla::net::parse_h2_target;
using charla::test::closed_port;
using charla::test::FakeH2cServer;
using charla::test::FakeReply;
using charla::test::FakeRequest;
using charla::test::run_for;
using charla::test::run_until;
using Clock = std::chrono::steady_clock;

namespace {

HttpRequest h2c(std::string url) {
  HttpRequest r;
  r.url = std::move(url);
  r.version = HttpVersion::h2c;
  return r;
}

HttpClientOptions streams(long n) {
  HttpClientOptions o;
  o.max_concurrent_streams = n;
  return o;
}

// "/hang" never answers, "/close" answers and drops the connection, "/goaway" answers and
// sends GOAWAY after 100 ms, anything else echoes its path.
FakeReply scripted(const FakeRequest& req) {
  const std::string target(req.target());
  if (target == "/hang") return FakeReply::never();
  FakeReply r = FakeReply::text(target);
  if (target == "/close") r.close = true;
  if (target == "/goaway") {
    r.goaway = true;
    r.delay = 100ms;
  }
  return r;
}

}  // namespace

TEST_CASE("h2c: 150 concurrent requests complete on one connection", "[net][h2c]") {
  FakeH2cServer server([](const FakeRequest& req) {
    return FakeReply::text("body of " + std::string(req.target())).header("X-Path", std::string(req.target())).after(200ms);
  });
  boost::asio::io_context io;
  HttpClient client(io, streams(200));

  std::vector<std::optional<HttpResponse>> got(150);
  const auto t0 = Clock::now();
  for (int i = 0; i < 150; ++i)
    client.request(h2c(server.url("/r/" + std::to_string(i))), [&got, i](HttpResponse r) { got[i] = std::move(r); });
  CHECK(client.in_flight() == 150);
  CHECK(std::none_of(got.begin(), got.end(), [](const auto& g) { return g.has_value(); }));  // never inside request()

  REQUIRE(run_until(io, [&] { return std::all_of(got.begin(), got.end(), [](const auto& g) { return g.has_value(); }); }));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  for (int i = 0; i < 150; ++i) {
    INFO("request " << i << ": " << got[i]->error);
    REQUIRE(got[i]->error.empty());
    CHECK(got[i]->status == 200);
    CHECK(got[i]->body == "body of /r/" + std::to_string(i));  // each stream its own answer
    CHECK(got[i]->headers.at("x-path") == "/r/" + std::to_string(i));  // names lower-cased
    CHECK(got[i]->elapsed >= 150ms);
  }
  CHECK(client.in_flight() == 0);
  CHECK(ms < 3000);  // in parallel, not 30 s in series
  CHECK(server.max_active() == 150);
  CHECK(server.connections() == 1);
}

TEST_CASE("h2c: a second connection opens only when the first is at the stream limit", "[net][h2c]") {
  FakeH2cServer server([](const FakeRequest&) { return FakeReply::text("ok").after(200ms); });
  boost::asio::io_context io;
  HttpClient client(io, streams(100));
  int ok = 0;
  for (int i = 0; i < 150; ++i)
    client.request(h2c(server.url()), [&](HttpResponse r) { ok += r.error.empty() && r.status == 200; });
  REQUIRE(run_until(io, [&] { return ok == 150; }));
  CHECK(server.connections() == 2);
  CHECK(server.max_active() == 150);

  // Both stay open and are reused: a later burst opens nothing new.
  for (int i = 0; i < 150; ++i)
    client.request(h2c(server.url()), [&](HttpResponse r) { ok += r.error.empty() && r.status == 200; });
  REQUIRE(run_until(io, [&] { return ok == 300; }));
  CHECK(server.connections() == 2);
}

TEST_CASE("h2c: a server allowing fewer streams than the client is never sent more than it allows",
          "[net][h2c]") {
  // 10 streams per connection on the server, 100 on the client: no stream is refused, a
  // burst on a new connection waits for the server's SETTINGS, and once the limit is known
  // a burst spreads over connections of 10 streams each.
  FakeH2cServer server([](const FakeRequest&) { return FakeReply::text("ok").after(100ms); }, 10);
  boost::asio::io_context io;
  HttpClient client(io, streams(100));
  std::vector<std::string> errors;
  auto burst = [&](int n) {
    for (int i = 0; i < n; ++i)
      client.request(h2c(server.url()), [&](HttpResponse r) { errors.push_back(r.error.empty() ? std::to_string(r.status) : r.error); });
  };
  burst(30);
  REQUIRE(run_until(io, [&] { return errors.size() == 30; }));
  CHECK(std::count(errors.begin(), errors.end(), "200") == 30);  // none refused
  CHECK(server.connections() == 1);  // the ones over 10 waited on the connection
  CHECK(server.max_active() == 10);

  errors.clear();
  burst(30);
  REQUIRE(run_until(io, [&] { return errors.size() == 30; }));
  CHECK(std::count(errors.begin(), errors.end(), "200") == 30);
  CHECK(server.connections() == 3);  // 10 + 10 + 10
  CHECK(server.max_active() == 30);
}

TEST_CASE("h2c: methods, request headers and bodies arrive; a shared body is not kept", "[net][h2c]") {
  FakeH2cServer server([](const FakeRequest& req) {
    return FakeReply::json(R"({"method":")" + std::string(req.method_string()) + R"(","echo":)" + req.body() + "}", 201);
  });
  boost::asio::io_context io;
  HttpClient client(io);
  auto body = std::make_shared<const std::string>(R"({"n":1})");
  std::vector<HttpResponse> got;
  for (std::string method : {"POST", "put", "DELETE"}) {
    HttpRequest req = h2c(server.url("/items?x=1"));
    req.method = method;
    req.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer sk"}, {"Connection", "keep-alive"}};
    req.shared_body = body;
    client.request(req, [&](HttpResponse r) { got.push_back(std::move(r)); });
  }
  REQUIRE(run_until(io, [&] { return got.size() == 3; }));
  for (auto& r : got) {
    CHECK(r.error.empty());
    CHECK(r.status == 201);
    CHECK(r.headers.at("content-type") == "application/json");
  }
  std::set<std::string> methods;
  for (auto& s : server.received()) {
    methods.insert(std::string(s.method_string()));
    CHECK(s.target() == "/items?x=1");
    CHECK(s.body() == *body);
    CHECK(s["content-type"] == "application/json");
    CHECK(s["authorization"] == "Bearer sk");
    CHECK(s["connection"].empty());  // forbidden in HTTP/2: left out, not a protocol error
  }
  CHECK(methods == std::set<std::string>{"POST", "PUT", "DELETE"});
  CHECK(body.use_count() == 1);  // the client let go of it with each request
}

TEST_CASE("h2c: a 300 KB request and a 300 KB reply pass flow control whole", "[net][h2c]") {
  FakeH2cServer server([](const FakeRequest& req) { return FakeReply::text(req.body() + req.body()); });
  boost::asio::io_context io;
  HttpClient client(io);
  std::string half;
  for (int i = 0; half.size() < 150'000; ++i) half += "línea " + std::to_string(i) + ". ";
  std::vector<HttpResponse> got;
  for (int i = 0; i < 3; ++i) {  // at once: the connection window is shared
    HttpRequest req = h2c(server.url("/echo"));
    req.method = "POST";
    req.body = half;
    client.request(req, [&](HttpResponse r) { got.push_back(std::move(r)); });
  }
  REQUIRE(run_until(io, [&] { return got.size() == 3; }));
  for (auto& r : got) {
    REQUIRE(r.error.empty());
    CHECK(r.body.size() == 2 * half.size());
    CHECK(r.body == half + half);
  }
  CHECK(server.connections() == 1);
}

TEST_CASE("h2c: a timeout fails with \"timeout\", resets the stream and keeps the connection", "[net][h2c]") {
  FakeH2cServer server(scripted);
  boost::asio::io_context io;
  HttpClient client(io);
  std::optional<HttpResponse> slow, fast;
  HttpRequest req = h2c(server.url("/hang"));
  req.timeout = 300ms;
  const auto t0 = Clock::now();
  client.request(req, [&](HttpResponse r) { slow = std::move(r); });
  client.request(h2c(server.url("/fast")), [&](HttpResponse r) { fast = std::move(r); });
  REQUIRE(run_until(io, [&] { return fast.has_value(); }));
  CHECK_FALSE(slow);
  CHECK(fast->body == "/fast");
  REQUIRE(run_until(io, [&] { return slow.has_value(); }));
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  CHECK(slow->error == "timeout");
  CHECK(slow->status == 0);
  CHECK(ms >= 290);
  CHECK(ms < 1500);
  REQUIRE(run_until(io, [&] { return server.active() == 0; }, 2s));  // the server saw RST_STREAM

  std::optional<HttpResponse> after;
  client.request(h2c(server.url("/after")), [&](HttpResponse r) { after = std::move(r); });
  REQUIRE(run_until(io, [&] { return after.has_value(); }));
  CHECK(after->body == "/after");
  CHECK(server.connections() == 1);
}

TEST_CASE("h2c: responses over the size cap fail with response_too_large", "[net][h2c]") {
  FakeH2cServer server([](const FakeRequest&) { return FakeReply::text(std::string(2u << 20, 'x')); });
  boost::asio::io_context io;
  HttpClient client(io);
  std::optional<HttpResponse> over, fits;
  HttpRequest req = h2c(server.url("/big"));
  req.max_response_bytes = 1u << 20;
  client.request(req, [&](HttpResponse r) { over = std::move(r); });
  req.max_response_bytes = 4u << 20;
  client.request(req, [&](HttpResponse r) { fits = std::move(r); });
  REQUIRE(run_until(io, [&] { return over && fits; }));
  CHECK(over->error == "response_too_large");
  CHECK(over->body.empty());
  REQUIRE(fits->error.empty());
  CHECK(fits->body.size() == (2u << 20));
  CHECK(server.connections() == 1);  // the stream was reset, not the connection
}

TEST_CASE("h2c: cancel and cancel_all complete pending requests with \"cancelled\" once", "[net][h2c]") {
  FakeH2cServer server(scripted);
  boost::asio::io_context io;
  HttpClient client(io);

  std::vector<std::string> errors;
  auto id = client.request(h2c(server.url("/hang")), [&](HttpResponse r) { errors.push_back(r.error); });
  REQUIRE(run_until(io, [&] { return server.requests() == 1; }));
  client.cancel(id);
  CHECK(errors.empty());  // posted, not called from cancel()
  CHECK(client.in_flight() == 0);
  client.cancel(id);  // unknown id: nothing happens
  REQUIRE(run_until(io, [&] { return errors.size() == 1; }));
  CHECK(errors[0] == "cancelled");
  REQUIRE(run_until(io, [&] { return server.active() == 0; }, 2s));  // RST_STREAM reached the server

  for (int i = 0; i < 5; ++i) client.request(h2c(server.url("/hang")), [&](HttpResponse r) { errors.push_back(r.error); });
  // One more, cancelled before the loop ran: its HEADERS never leave.
  client.request(h2c(server.url("/hang")), [&](HttpResponse r) { errors.push_back(r.error); });
  client.cancel_all();
  CHECK(client.in_flight() == 0);
  REQUIRE(run_until(io, [&] { return errors.size() == 7; }));
  run_for(io, 100ms);
  CHECK(errors.size() == 7);  // exactly once each
  for (auto& e : errors) CHECK(e == "cancelled");

  std::optional<HttpResponse> after;
  client.request(h2c(server.url("/ok")), [&](HttpResponse r) { after = std::move(r); });
  REQUIRE(run_until(io, [&] { return after.has_value(); }));
  CHECK(after->body == "/ok");
  CHECK(server.connections() == 1);
}

TEST_CASE("h2c: the server dropping the connection fails its streams once; the next request reconnects",
          "[net][h2c]") {
  FakeH2cServer server(scripted);
  boost::asio::io_context io;
  HttpClient client(io);
  std::vector<HttpResponse> hung;
  for (int i = 0; i < 5; ++i) client.request(h2c(server.url("/hang")), [&](HttpResponse r) { hung.push_back(std::move(r)); });
  REQUIRE(run_until(io, [&] { return server.requests() == 5; }));
  std::optional<HttpResponse> closer;
  client.request(h2c(server.url("/close")), [&](HttpResponse r) { closer = std::move(r); });
  REQUIRE(run_until(io, [&] { return hung.size() == 5 && closer.has_value(); }));
  run_for(io, 100ms);
  CHECK(hung.size() == 5);  // once each
  for (auto& r : hung) {
    INFO(r.error);
    CHECK(r.error.rfind("network: ", 0) == 0);
    CHECK(r.error.find("closed the connection") != std::string::npos);
    CHECK(r.status == 0);
  }
  CHECK(closer->body == "/close");  // answered before the close
  CHECK(client.in_flight() == 0);

  std::optional<HttpResponse> next;
  client.request(h2c(server.url("/next")), [&](HttpResponse r) { next = std::move(r); });
  REQUIRE(run_until(io, [&] { return next.has_value(); }));
  CHECK(next->error.empty());
  CHECK(next->body == "/next");
  CHECK(server.connections() == 2);
}

TEST_CASE("h2c: streams a GOAWAY refuses fail with \"network: ...\"; new requests take a new connection",
          "[net][h2c]") {
  FakeH2cServer server(scripted);
  boost::asio::io_context io;
  HttpClient client(io);
  std::optional<HttpResponse> goaway;
  client.request(h2c(server.url("/goaway")), [&](HttpResponse r) { goaway = std::move(r); });
  std::vector<HttpResponse> later;  // opened after /goaway's stream: not processed
  for (int i = 0; i < 3; ++i) client.request(h2c(server.url("/hang")), [&](HttpResponse r) { later.push_back(std::move(r)); });
  REQUIRE(run_until(io, [&] { return goaway && later.size() == 3; }));
  CHECK(goaway->error.empty());
  CHECK(goaway->body == "/goaway");
  for (auto& r : later) {
    INFO(r.error);
    CHECK(r.error.rfind("network: ", 0) == 0);
    CHECK(r.error.find("refused") != std::string::npos);
  }
  std::optional<HttpResponse> next;
  client.request(h2c(server.url("/next")), [&](HttpResponse r) { next = std::move(r); });
  REQUIRE(run_until(io, [&] { return next.has_value(); }));
  CHECK(next->body == "/next");
  CHECK(server.connections() == 2);
}

TEST_CASE("h2c: connection refused fails with \"connect\", a bad URL with \"network: ...\"", "[net][h2c]") {
  boost::asio::io_context io;
  HttpClient client(io);
  std::optional<HttpResponse> refused, bad_port, bad_method;
  client.request(h2c("http://127.0.0.1:" + std::to_string(closed_port()) + "/"), [&](HttpResponse r) { refused = std::move(r); });
  client.request(h2c("http://127.0.0.1:99999/"), [&](HttpResponse r) { bad_port = std::move(r); });
  HttpRequest req = h2c("http://127.0.0.1:1/");
  req.method = "GE T";
  client.request(req, [&](HttpResponse r) { bad_method = std::move(r); });
  CHECK_FALSE(bad_port);  // even an immediate error is posted
  REQUIRE(run_until(io, [&] { return refused && bad_port && bad_method; }));
  CHECK(refused->error == "connect");
  CHECK(refused->status == 0);
  CHECK(bad_port->error.rfind("network: invalid port", 0) == 0);
  CHECK(bad_method->error.rfind("network: invalid method", 0) == 0);
  CHECK(client.in_flight() == 0);
}

TEST_CASE("h2c: 429 with Retry-After reaches the caller as a response", "[net][h2c]") {
  FakeH2cServer server([](const FakeRequest&) {
    return FakeReply::json(R"({"error":"slow down"})", 429).header("Retry-After", "2").header("X-Extra", "a");
  });
  boost::asio::io_context io;
  HttpClient client(io);
  std::optional<HttpResponse> got;
  client.request(h2c(server.url("/v1/chat/completions")), [&](HttpResponse r) { got = std::move(r); });
  REQUIRE(run_until(io, [&] { return got.has_value(); }));
  CHECK(got->error.empty());
  CHECK(got->status == 429);
  CHECK(got->headers.at("retry-after") == "2");
  CHECK(got->headers.at("x-extra") == "a");
  CHECK(got->body == R"({"error":"slow down"})");
}

TEST_CASE("h2c: destroying the client with requests in flight calls nothing afterwards", "[net][h2c]") {
  FakeH2cServer server([](const FakeRequest& req) {
    if (req.target() == "/hang") return FakeReply::never();
    return FakeReply::text("late").after(50ms);
  });
  boost::asio::io_context io;
  int calls = 0;
  SECTION("in flight") {
    auto client = std::make_unique<HttpClient>(io);
    for (int i = 0; i < 10; ++i) client->request(h2c(server.url(i % 2 ? "/hang" : "/slow")), [&](HttpResponse) { ++calls; });
    REQUIRE(run_until(io, [&] { return server.requests() == 10; }));
    client.reset();
  }
  SECTION("right after request(), before the loop ran") {
    auto client = std::make_unique<HttpClient>(io);
    client->request(h2c(server.url("/slow")), [&](HttpResponse) { ++calls; });
    client.reset();
  }
  SECTION("after cancel_all posted the completions") {
    auto client = std::make_unique<HttpClient>(io);
    client->request(h2c(server.url("/hang")), [&](HttpResponse) { ++calls; });
    REQUIRE(run_until(io, [&] { return server.requests() == 1; }));
    client->cancel_all();
    client.reset();
  }
  run_for(io, 200ms);
  CHECK(calls == 0);
}

TEST_CASE("h2c: a callback may destroy its client", "[net][h2c]") {
  FakeH2cServer server;
  boost::asio::io_context io;
  auto client = std::make_unique<HttpClient>(io);
  int calls = 0;
  for (int i = 0; i < 3; ++i)
    client->request(h2c(server.url()), [&](HttpResponse) {
      ++calls;
      client.reset();
    });
  REQUIRE(run_until(io, [&] { return calls >= 1; }));
  run_for(io, 100ms);
  CHECK(calls == 1);
}

TEST_CASE("h2c: URLs are taken apart into host, port, authority and path", "[net][h2c]") {
  auto t = parse_h2_target("http://127.0.0.1:8000/v1/chat/completions?x=1#frag");
  CHECK(t.error.empty());
  CHECK(t.host == "127.0.0.1");
  CHECK(t.port == "8000");
  CHECK(t.authority == "127.0.0.1:8000");
  CHECK(t.path == "/v1/chat/completions?x=1");
  t = parse_h2_target("HTTP://llm.internal");
  CHECK(t.host == "llm.internal");
  CHECK(t.port == "80");
  CHECK(t.path == "/");
  t = parse_h2_target("http://[::1]:9/x");
  CHECK(t.host == "::1");
  CHECK(t.authority == "[::1]:9");
  CHECK(parse_h2_target("http://host?q").path == "/?q");
  CHECK_FALSE(parse_h2_target("http://user@host/").error.empty());
  CHECK_FALSE(parse_h2_target("http://:80/").error.empty());
  CHECK_FALSE(parse_h2_target("http://host:0/").error.empty());
  CHECK_FALSE(parse_h2_target("ftp://host/").error.empty());
  CHECK(parse_h2_target("https://host/x").tls);
  CHECK(parse_h2_target("https://host/x").port == "443");
}
