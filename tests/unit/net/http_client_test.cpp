// HttpClient against a real HTTP server on 127.0.0.1: the loop never blocks, every
// callback runs exactly once (or never, after destruction), connections are reused.
#include "net/http_client.hpp"
#include "support/closed_port.hpp"
#include "support/fake_http_server.hpp"
#include "support/io_loop.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>
#include <optional>
#include <set>

using namespace std::chrono_literals;
using charla::net::HttpClient;
using charla::net::HttpRequest;
using charla::net::HttpResponse;
using charla::test::closed_port;
using charla::test::FakeHttpServer;
using charla::test::FakeReply;
using charla::test::FakeRequest;
using charla::test::run_for;
using charla::test::run_until;
using Clock = std::chrono::steady_clock;

namespace {

HttpRequest get(std::string url) {
  HttpRequest r;
  r.url = std::move(url);
  return r;
}

}  // namespace

TEST_CASE("GET roundtrip with request and response headers", "[net]") {
  FakeHttpServer server([](const FakeRequest& req) {
    return FakeReply::text("hello " + std::string(req["X-Test"])).header("X-Reply", "Yes").header("Set-Thing", "a");
  });
  boost::asio::io_context io;
  HttpClient client(io);

  std::optional<HttpResponse> got;
  HttpRequest req = get(server.url("/greet?x=1"));
  req.headers = {{"X-Test", "abc"}, {"Accept", "text/plain"}};
  client.request(req, [&](HttpResponse r) { got = std::move(r); });
  CHECK_FALSE(got);  // never from inside request()
  CHECK(client.in_flight() == 1);

  REQUIRE(run_until(io, [&] { return got.has_value(); }));
  CHECK(got->error.empty());
  CHECK(got->status == 200);
  CHECK(got->body == "hello abc");
  CHECK(got->headers.at("x-reply") == "Yes");  // names lower-cased, values kept
  CHECK(got->headers.at("content-type") == "text/plain");
  CHECK(got->elapsed.count() > 0);
  CHECK(client.in_flight() == 0);

  auto seen = server.received();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].method() == boost::beast::http::verb::get);
  CHECK(seen[0].target() == "/greet?x=1");
  CHECK(seen[0]["Accept"] == "text/plain");
}

TEST_CASE("POST, PUT and DELETE send method and body", "[net]") {
  FakeHttpServer server([](const FakeRequest& req) {
    return FakeReply::json(R"({"method":")" + std::string(req.method_string()) + R"(","echo":)" + req.body() + "}", 201);
  });
  boost::asio::io_context io;
  HttpClient client(io);

  std::vector<HttpResponse> got;
  for (std::string method : {"POST", "put", "DELETE"}) {
    HttpRequest req = get(server.url("/items"));
    req.method = method;
    req.headers = {{"Content-Type", "application/json"}};
    req.body = R"({"n":1})";
    client.request(req, [&](HttpResponse r) { got.push_back(std::move(r)); });
  }
  REQUIRE(run_until(io, [&] { return got.size() == 3; }));
  for (auto& r : got) {
    CHECK(r.error.empty());
    CHECK(r.status == 201);
    CHECK(r.headers.at("content-type") == "application/json");
  }
  auto seen = server.received();
  REQUIRE(seen.size() == 3);
  std::set<std::string> methods;
  for (auto& s : seen) {
    methods.insert(std::string(s.method_string()));
    CHECK(s.body() == R"({"n":1})");
    CHECK(s["Content-Type"] == "application/json");
  }
  CHECK(methods == std::set<std::string>{"POST", "PUT", "DELETE"});
}

TEST_CASE("a shared body is sent by every request that holds it", "[net]") {
  FakeHttpServer server([](const FakeRequest& req) { return FakeReply::json(req.body()); });
  boost::asio::io_context io;
  HttpClient client(io);
  auto body = std::make_shared<const std::string>(R"({"messages":[{"role":"user","content":"hola"}]})");
  std::vector<HttpResponse> got;
  for (int i = 0; i < 2; ++i) {
    HttpRequest req = get(server.url("/v1/chat/completions"));
    req.method = "POST";
    req.shared_body = body;
    req.body = "ignored when shared_body is set";
    client.request(req, [&](HttpResponse r) { got.push_back(std::move(r)); });
  }
  REQUIRE(run_until(io, [&] { return got.size() == 2; }));
  for (auto& r : got) CHECK(r.body == *body);
  for (auto& s : server.received()) CHECK(s.body() == *body);
  CHECK(body.use_count() == 1);  // the client let go of it with each request
}

TEST_CASE("HTTP error statuses are responses, not errors", "[net]") {
  FakeHttpServer server([](const FakeRequest&) { return FakeReply::text("nope", 503); });
  boost::asio::io_context io;
  HttpClient client(io);
  std::optional<HttpResponse> got;
  client.request(get(server.url()), [&](HttpResponse r) { got = std::move(r); });
  REQUIRE(run_until(io, [&] { return got.has_value(); }));
  CHECK(got->error.empty());
  CHECK(got->status == 503);
  CHECK(got->body == "nope");
}

TEST_CASE("100 concurrent requests on one loop all complete", "[net]") {
  FakeHttpServer server([](const FakeRequest& req) { return FakeReply::text(std::string(req.target())).after(100ms); });
  boost::asio::io_context io;
  HttpClient client(io);

  int ok = 0, calls = 0;
  auto t0 = Clock::now();
  for (int i = 0; i < 100; ++i) {
    std::string path = "/r/" + std::to_string(i);
    client.request(get(server.url(path)), [&, path](HttpResponse r) {
      ++calls;
      if (r.error.empty() && r.status == 200 && r.body == path) ++ok;
    });
  }
  CHECK(client.in_flight() == 100);
  REQUIRE(run_until(io, [&] { return calls == 100; }));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  std::cout << "[net] 100 concurrent requests, 100 ms server latency each: " << ms << " ms\n";
  CHECK(ok == 100);
  CHECK(ms < 2000);  // in parallel, not 10 s in series
  CHECK(server.max_active() > 50);
}

TEST_CASE("keep-alive reuses connections", "[net]") {
  FakeHttpServer server;
  boost::asio::io_context io;
  HttpClient client(io);

  SECTION("sequential requests share one connection") {
    int done = 0;
    std::function<void()> next = [&] {
      client.request(get(server.url()), [&](HttpResponse r) {
        CHECK(r.error.empty());
        if (++done < 30) next();
      });
    };
    next();
    REQUIRE(run_until(io, [&] { return done == 30; }));
    CHECK(server.requests() == 30);
    CHECK(server.connections() == 1);
  }

  SECTION("rounds of parallel requests reuse the pool") {
    int done = 0;
    for (int round = 0; round < 10; ++round) {
      for (int i = 0; i < 10; ++i) client.request(get(server.url()), [&](HttpResponse) { ++done; });
      REQUIRE(run_until(io, [&] { return done == (round + 1) * 10; }));
    }
    CHECK(server.requests() == 100);
    CHECK(server.connections() <= 20);
  }
}

TEST_CASE("max_host_connections caps the connections to one host", "[net]") {
  FakeHttpServer server([](const FakeRequest&) { return FakeReply::text("ok").after(50ms); });
  boost::asio::io_context io;
  charla::net::HttpClientOptions options;
  options.max_host_connections = 4;
  HttpClient client(io, options);

  int ok = 0, calls = 0;
  for (int i = 0; i < 20; ++i)
    client.request(get(server.url()), [&](HttpResponse r) {
      ++calls;
      if (r.error.empty() && r.status == 200) ++ok;
    });
  REQUIRE(run_until(io, [&] { return calls == 20; }));
  CHECK(ok == 20);
  CHECK(server.max_active() <= 4);
  CHECK(server.max_open() <= 4);
  CHECK(server.connections() <= 4);  // kept alive and reused, never closed and reopened

  // The limit can change on a running client.
  client.set_max_host_connections(8);
  calls = 0;
  for (int i = 0; i < 24; ++i) client.request(get(server.url()), [&](HttpResponse) { ++calls; });
  REQUIRE(run_until(io, [&] { return calls == 24; }));
  CHECK(server.max_active() > 4);
  CHECK(server.max_open() <= 8);
}

TEST_CASE("time queued for a host connection counts against the request timeout", "[net]") {
  // Why a caller limits its own requests in flight instead of relying on curl's queue.
  FakeHttpServer server([](const FakeRequest&) { return FakeReply::text("ok").after(300ms); });
  boost::asio::io_context io;
  charla::net::HttpClientOptions options;
  options.max_host_connections = 1;
  HttpClient client(io, options);
  std::vector<std::string> errors;
  for (int i = 0; i < 3; ++i) {
    HttpRequest req = get(server.url());
    req.timeout = 500ms;
    client.request(req, [&](HttpResponse r) { errors.push_back(r.error); });
  }
  REQUIRE(run_until(io, [&] { return errors.size() == 3; }));
  CHECK(errors[0].empty());
  CHECK(std::count(errors.begin(), errors.end(), "timeout") >= 1);
}

TEST_CASE("a timeout fails with \"timeout\" and the loop stays responsive", "[net]") {
  FakeHttpServer server([](const FakeRequest& req) {
    return req.target() == "/hang" ? FakeReply::never() : FakeReply::text("fast");
  });
  boost::asio::io_context io;
  HttpClient client(io);

  // A ticker on the same loop: it keeps running while the request waits.
  int ticks = 0;
  boost::asio::steady_timer ticker(io);
  std::function<void()> tick = [&] {
    ticker.expires_after(10ms);
    ticker.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      ++ticks;
      tick();
    });
  };
  tick();

  std::optional<HttpResponse> slow, fast;
  HttpRequest req = get(server.url("/hang"));
  req.timeout = 300ms;
  auto t0 = Clock::now();
  client.request(req, [&](HttpResponse r) { slow = std::move(r); });
  client.request(get(server.url("/fast")), [&](HttpResponse r) { fast = std::move(r); });

  REQUIRE(run_until(io, [&] { return fast.has_value(); }));
  CHECK_FALSE(slow);
  CHECK(fast->body == "fast");
  REQUIRE(run_until(io, [&] { return slow.has_value(); }));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  CHECK(slow->error == "timeout");
  CHECK(slow->status == 0);
  CHECK(ms >= 290);
  CHECK(ms < 1500);
  CHECK(ticks >= 10);  // ~30 expected; the loop was never blocked
  ticker.cancel();
}

TEST_CASE("connection refused and bad URLs are errors", "[net]") {
  boost::asio::io_context io;
  HttpClient client(io);
  std::optional<HttpResponse> refused, bad, scheme;
  client.request(get("http://127.0.0.1:" + std::to_string(closed_port()) + "/"),
                 [&](HttpResponse r) { refused = std::move(r); });
  client.request(get("not a url"), [&](HttpResponse r) { bad = std::move(r); });
  client.request(get("file:///etc/passwd"), [&](HttpResponse r) { scheme = std::move(r); });
  CHECK_FALSE(bad);
  REQUIRE(run_until(io, [&] { return refused && bad && scheme; }));
  CHECK(refused->error == "connect");
  CHECK(refused->status == 0);
  CHECK(bad->error.rfind("network: ", 0) == 0);
  CHECK(scheme->error.rfind("network: ", 0) == 0);
}

TEST_CASE("responses over the size cap fail with response_too_large", "[net]") {
  FakeHttpServer server([](const FakeRequest& req) {
    FakeReply r = FakeReply::text(std::string(2u << 20, 'x'));
    r.chunked = req.target() == "/chunked";  // no Content-Length: caught while reading
    return r;
  });
  boost::asio::io_context io;
  HttpClient client(io);
  std::optional<HttpResponse> sized, chunked, fits;
  HttpRequest req = get(server.url("/sized"));
  req.max_response_bytes = 1u << 20;
  client.request(req, [&](HttpResponse r) { sized = std::move(r); });
  req.url = server.url("/chunked");
  client.request(req, [&](HttpResponse r) { chunked = std::move(r); });
  req.max_response_bytes = 4u << 20;
  client.request(req, [&](HttpResponse r) { fits = std::move(r); });
  REQUIRE(run_until(io, [&] { return sized && chunked && fits; }));
  CHECK(sized->error == "response_too_large");
  CHECK(chunked->error == "response_too_large");
  CHECK(chunked->body.empty());
  CHECK(fits->error.empty());
  CHECK(fits->body.size() == (2u << 20));
}

TEST_CASE("cancel and cancel_all complete pending requests with \"cancelled\"", "[net]") {
  FakeHttpServer server([](const FakeRequest& req) {
    return req.target() == "/hang" ? FakeReply::never() : FakeReply::text("ok");
  });
  boost::asio::io_context io;
  HttpClient client(io);

  std::vector<std::string> errors;
  auto id = client.request(get(server.url("/hang")), [&](HttpResponse r) { errors.push_back(r.error); });
  run_until(io, [&] { return server.requests() == 1; });
  client.cancel(id);
  CHECK(errors.empty());  // posted, not called from cancel()
  CHECK(client.in_flight() == 0);
  client.cancel(id);  // unknown id: nothing happens
  REQUIRE(run_until(io, [&] { return errors.size() == 1; }));
  CHECK(errors[0] == "cancelled");

  for (int i = 0; i < 5; ++i) client.request(get(server.url("/hang")), [&](HttpResponse r) { errors.push_back(r.error); });
  run_until(io, [&] { return server.requests() == 6; });
  client.cancel_all();
  CHECK(client.in_flight() == 0);
  REQUIRE(run_until(io, [&] { return errors.size() == 6; }));
  run_for(io, 50ms);
  CHECK(errors.size() == 6);  // exactly once each
  for (auto& e : errors) CHECK(e == "cancelled");

  // Still usable afterwards.
  std::optional<HttpResponse> after;
  client.request(get(server.url("/ok")), [&](HttpResponse r) { after = std::move(r); });
  REQUIRE(run_until(io, [&] { return after.has_value(); }));
  CHECK(after->body == "ok");
}

TEST_CASE("destroying the client with requests in flight calls nothing afterwards", "[net]") {
  FakeHttpServer server([](const FakeRequest& req) {
    if (req.target() == "/hang") return FakeReply::never();
    return FakeReply::text("late").after(50ms);
  });
  boost::asio::io_context io;
  int calls = 0;

  SECTION("in flight") {
    auto client = std::make_unique<HttpClient>(io);
    for (int i = 0; i < 10; ++i) client->request(get(server.url(i % 2 ? "/hang" : "/slow")), [&](HttpResponse) { ++calls; });
    run_until(io, [&] { return server.requests() == 10; });
    client.reset();
  }
  SECTION("right after request(), before the loop ran") {
    auto client = std::make_unique<HttpClient>(io);
    client->request(get(server.url("/slow")), [&](HttpResponse) { ++calls; });
    client.reset();
  }
  SECTION("after cancel_all posted the completions") {
    auto client = std::make_unique<HttpClient>(io);
    client->request(get(server.url("/hang")), [&](HttpResponse) { ++calls; });
    run_until(io, [&] { return server.requests() == 1; });
    client->cancel_all();
    client.reset();
  }
  run_for(io, 200ms);
  CHECK(calls == 0);
}

TEST_CASE("a callback may destroy its client", "[net]") {
  FakeHttpServer server;
  boost::asio::io_context io;
  auto client = std::make_unique<HttpClient>(io);
  int calls = 0;
  for (int i = 0; i < 3; ++i) {
    client->request(get(server.url()), [&](HttpResponse) {
      ++calls;
      client.reset();
    });
  }
  REQUIRE(run_until(io, [&] { return calls >= 1; }));
  run_for(io, 100ms);
  CHECK(calls == 1);
  CHECK_FALSE(client);
}
