// HttpClient's HTTP/2 over TLS (version http2_tls to https:// URLs, net/h2_client.hpp):
// ALPN "h2" on charla's own client, the server's certificate and name verified, and curl
// taking over when the server picks HTTP/1.1. Against a real TLS server on 127.0.0.1
// (support/fake_h2c_server.hpp with FakeTls) and the self-signed fixture certificate
// tests/fixtures/tls/localhost.pem (CN and subjectAltName "localhost", valid until 2126).
#include "net/http_client.hpp"
#include "support/fake_h2c_server.hpp"
#include "support/io_loop.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <optional>

using namespace std::chrono_literals;
using charla::net::HttpClient;
using charla::net::HttpClientOptions;
using charla::net::HttpRequest;
using charla::net::HttpResponse;
using charla::net::HttpVersion;
using charla::test::FakeH2cServer;
using charla::test::FakeReply;
using charla::test::FakeRequest;
using charla::test::FakeTls;
using charla::test::run_until;

namespace {

const std::string kCert = std::string(CHARLA_FIXTURES_DIR) + "/tls/localhost.pem";
const std::string kKey = std::string(CHARLA_FIXTURES_DIR) + "/tls/localhost.key";

FakeTls tls(bool http1_only = false) { return {kCert, kKey, http1_only}; }

HttpClientOptions trusting_fixture() {
  HttpClientOptions o;
  o.ca_file = kCert;
  return o;
}

HttpRequest h2(std::string url) {
  HttpRequest r;
  r.url = std::move(url);
  r.version = HttpVersion::http2_tls;
  return r;
}

FakeReply echo(const FakeRequest& req) {
  return FakeReply::text("v" + std::to_string(req.version()) + " " + std::string(req.target())).after(100ms);
}

}  // namespace

TEST_CASE("https: 50 concurrent requests share one TLS connection speaking HTTP/2", "[net][h2tls]") {
  FakeH2cServer server(echo, FakeH2cServer::kMaxConcurrentStreams, tls());
  boost::asio::io_context io;
  HttpClient client(io, trusting_fixture());
  std::vector<std::optional<HttpResponse>> got(50);
  for (int i = 0; i < 50; ++i)
    client.request(h2(server.https_url("/r/" + std::to_string(i))), [&got, i](HttpResponse r) { got[i] = std::move(r); });
  CHECK(client.in_flight() == 50);
  REQUIRE(run_until(io, [&] { return std::all_of(got.begin(), got.end(), [](const auto& g) { return g.has_value(); }); }));
  for (int i = 0; i < 50; ++i) {
    INFO(got[i]->error);
    REQUIRE(got[i]->error.empty());
    CHECK(got[i]->body == "v20 /r/" + std::to_string(i));  // HTTP/2 at the server
  }
  CHECK(server.connections() == 1);
  CHECK(server.max_active() == 50);
}

TEST_CASE("https: a certificate nobody vouches for fails the request", "[net][h2tls]") {
  FakeH2cServer server(echo, FakeH2cServer::kMaxConcurrentStreams, tls());
  boost::asio::io_context io;
  HttpClient client(io);  // the system's CAs only: they do not know the fixture
  std::optional<HttpResponse> got;
  client.request(h2(server.https_url("/x")), [&](HttpResponse r) { got = std::move(r); });
  REQUIRE(run_until(io, [&] { return got.has_value(); }));
  INFO(got->error);
  CHECK(got->error.rfind("network: TLS handshake with localhost:", 0) == 0);
  CHECK(got->error.find("certificate verify failed") != std::string::npos);
  CHECK(got->status == 0);
  CHECK(server.requests() == 0);
}

TEST_CASE("https: a certificate for another name fails the request", "[net][h2tls]") {
  FakeH2cServer server(echo, FakeH2cServer::kMaxConcurrentStreams, tls());
  boost::asio::io_context io;
  HttpClient client(io, trusting_fixture());
  std::optional<HttpResponse> got;
  client.request(h2(server.https_url("/x", "127.0.0.1")), [&](HttpResponse r) { got = std::move(r); });  // cert says localhost
  REQUIRE(run_until(io, [&] { return got.has_value(); }));
  INFO(got->error);
  CHECK(got->error.rfind("network: TLS handshake", 0) == 0);
  CHECK(server.requests() == 0);
}

TEST_CASE("https: a server that picks HTTP/1.1 in ALPN is served by curl, every request once", "[net][h2tls]") {
  FakeH2cServer server(echo, FakeH2cServer::kMaxConcurrentStreams, tls(/*http1_only=*/true));
  boost::asio::io_context io;
  HttpClient client(io, trusting_fixture());
  std::vector<HttpResponse> got;
  for (int i = 0; i < 5; ++i) {  // sent while the first handshake is under way
    HttpRequest req = h2(server.https_url("/first"));
    req.method = "POST";
    req.headers = {{"X-N", std::to_string(i)}};
    req.body = "cuerpo";
    client.request(req, [&](HttpResponse r) { got.push_back(std::move(r)); });
  }
  REQUIRE(run_until(io, [&] { return got.size() == 5; }));
  for (auto& r : got) {
    INFO(r.error);
    REQUIRE(r.error.empty());
    CHECK(r.body == "v11 /first");  // HTTP/1.1 at the server
  }
  for (auto& s : server.received()) {
    CHECK(s.body() == "cuerpo");
    CHECK(s.method() == boost::beast::http::verb::post);
    CHECK_FALSE(s["X-N"].empty());
  }
  std::optional<HttpResponse> later;  // the origin is known now: straight to curl
  client.request(h2(server.https_url("/later")), [&](HttpResponse r) { later = std::move(r); });
  REQUIRE(run_until(io, [&] { return later.has_value(); }));
  CHECK(later->body == "v11 /later");
  CHECK(server.requests() == 6);
  CHECK(client.in_flight() == 0);
}
