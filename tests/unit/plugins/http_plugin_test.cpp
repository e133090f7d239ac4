// ctx:http against a real HTTP server on 127.0.0.1.
#include "http/allow_list.hpp"
#include "support/fake_http_server.hpp"
#include "unit/plugins/plugin_harness.hpp"

using namespace std::chrono_literals;
using charla::plugins::http::AllowList;
using charla::test::FakeHttpServer;
using charla::test::FakeReply;
using charla::test::FakeRequest;
using charla::test::make_call;
using charla::test::make_plugin;
using charla::test::Outcome;
using charla::test::run_for;
using charla::test::run_until;
using json = nlohmann::json;

namespace {

FakeHttpServer echo_server() {
  return FakeHttpServer([](const FakeRequest& req) {
    json seen{{"method", req.method_string()}, {"target", req.target()}, {"body", req.body()},
              {"content_type", req[boost::beast::http::field::content_type]}, {"x_api_key", req["X-Api-Key"]}};
    return FakeReply::json(seen.dump()).header("X-Request-Id", "r-1");
  });
}

}  // namespace

TEST_CASE("http: allow-list patterns", "[http]") {
  auto every = AllowList::from_json(json::array({"api.example.com", "*.crm.example", "127.0.0.1", "[::1]"}));
  CHECK(every.allows("any", "api.example.com", 443));
  CHECK(every.allows("any", "API.Example.COM.", 443));
  CHECK_FALSE(every.allows("any", "example.com", 443));
  CHECK_FALSE(every.allows("any", "api.example.com.evil.net", 443));
  CHECK_FALSE(every.allows("any", "evilapi.example.com", 443));
  CHECK(every.allows("any", "eu.crm.example", 443));
  CHECK(every.allows("any", "a.b.crm.example", 443));
  CHECK_FALSE(every.allows("any", "crm.example", 443));  // the wildcard needs a label in front
  CHECK_FALSE(every.allows("any", "evilcrm.example", 443));
  CHECK(every.allows("any", "127.0.0.1", 443));
  CHECK(every.allows("any", "::1", 443));

  auto per_flow = AllowList::from_json({{"insurance", {"quotes.example"}}, {"*", {"status.example"}}});
  CHECK(per_flow.allows("insurance", "quotes.example", 443));
  CHECK_FALSE(per_flow.allows("clinic", "quotes.example", 443));
  CHECK(per_flow.allows("clinic", "status.example", 443));

  CHECK_FALSE(AllowList::from_json(nullptr).allows("insurance", "api.example.com", 443));
  CHECK_THROWS_AS(AllowList::from_json("api.example.com"), std::invalid_argument);
  CHECK_THROWS_AS(AllowList::from_json(json::array({"*"})), std::invalid_argument);
  CHECK_THROWS_AS(AllowList::from_json(json::array({"https://api.example.com/x"})), std::invalid_argument);
  CHECK_NOTHROW(AllowList::from_json(json::array({"api.example.com:443"})));
}

TEST_CASE("http: allow-list ports: a bare host means 80 and 443 only", "[http]") {
  auto list = AllowList::from_json(
      json::array({"api.example.com", "crm.example:8443", "*.svc.example:*", "[::1]:8080", "::2"}));
  CHECK(list.allows("any", "api.example.com", 443));
  CHECK(list.allows("any", "api.example.com", 80));
  CHECK_FALSE(list.allows("any", "api.example.com", 8080));  // e.g. the host's admin port
  CHECK_FALSE(list.allows("any", "api.example.com", 6379));
  CHECK(list.allows("any", "crm.example", 8443));
  CHECK_FALSE(list.allows("any", "crm.example", 443));
  CHECK(list.allows("any", "a.svc.example", 9000));
  CHECK(list.allows("any", "::1", 8080));
  CHECK_FALSE(list.allows("any", "::1", 443));
  CHECK(list.allows("any", "::2", 443));
  for (const char* bad : {"api.example.com:", "api.example.com:0", "api.example.com:70000", "api.example.com:http",
                          "[::1", "[::1]x", "*:80"})
    CHECK_THROWS_AS(AllowList::from_json(json::array({bad})), std::invalid_argument);
}

TEST_CASE("http: another port of a listed host is refused; host:port reaches it", "[http]") {
  FakeHttpServer server = echo_server();
  boost::asio::io_context io;
  const std::string port = std::to_string(server.port());
  auto bare = make_plugin("http", io, {{"allow_hosts", {"127.0.0.1"}}});
  Outcome refused;
  bare->call(make_call("http", {{"url", server.url("/admin")}}), refused.done());
  REQUIRE(run_until(io, [&] { return refused.calls > 0; }));
  CHECK_THAT(refused.reply.argument_error, Catch::Contains("host 127.0.0.1 port " + port + " is not on the allow-list"));
  CHECK_THAT(refused.reply.argument_error, Catch::Contains("list it as host:port"));
  CHECK(server.requests() == 0);

  auto with_port = make_plugin("http", io, {{"allow_hosts", {"127.0.0.1:" + port}}});
  Outcome reached;
  with_port->call(make_call("http", {{"url", server.url("/quote")}}), reached.done());
  REQUIRE(run_until(io, [&] { return reached.calls > 0; }));
  REQUIRE(reached.ok());
  CHECK(server.requests() == 1);
}

TEST_CASE("http: flows cannot set the Host header", "[http]") {
  FakeHttpServer server = echo_server();
  boost::asio::io_context io;
  auto plugin = make_plugin("http", io, {{"allow_hosts", {"127.0.0.1:*"}}});
  for (const char* name : {"Host", "host", "HOST"}) {
    Outcome out;
    plugin->call(make_call("http", {{"url", server.url("/")}, {"headers", {{name, "internal.admin"}}}}), out.done());
    REQUIRE(run_until(io, [&] { return out.calls > 0; }));
    CHECK(out.reply.argument_error == "http: flows cannot set the Host header: it is taken from the URL");
  }
  CHECK(server.requests() == 0);
}

TEST_CASE("http: a host off the allow-list is refused before any request", "[http]") {
  FakeHttpServer server = echo_server();
  boost::asio::io_context io;
  auto plugin = make_plugin("http", io, {{"allow_hosts", {{"clinic", {"127.0.0.1:*"}}}}});
  CHECK(plugin->methods() == std::vector<std::string>{"http"});
  Outcome out;
  plugin->call(make_call("http", {{"url", server.url("/x")}}), out.done());  // flow "insurance"
  CHECK(out.calls == 0);
  REQUIRE(run_until(io, [&] { return out.calls > 0; }));
  CHECK_THAT(out.reply.argument_error,
             Catch::StartsWith("http: host 127.0.0.1 port " + std::to_string(server.port()) +
                               " is not on the allow-list for flow insurance (plugins.http.allow_hosts"));
  CHECK(server.requests() == 0);

  Outcome other;
  plugin->call(make_call("http", {{"url", "https://evil.example/steal"}}, 20s, "clinic"), other.done());
  REQUIRE(run_until(io, [&] { return other.calls > 0; }));
  CHECK(other.reply.argument_error.find("host evil.example is not on the allow-list for flow clinic") != std::string::npos);
}

TEST_CASE("http: a listed host is reached; status, headers, body, json", "[http]") {
  FakeHttpServer server = echo_server();
  boost::asio::io_context io;
  auto plugin = make_plugin("http", io, {{"allow_hosts", {"127.0.0.1:*"}}});
  Outcome out;
  plugin->call(make_call("http", {{"url", server.url("/quote?age=30")}, {"headers", {{"X-Api-Key", "k1"}}}}), out.done());
  REQUIRE(run_until(io, [&] { return out.calls > 0; }));
  REQUIRE(out.ok());
  const json& r = out.reply.value;
  CHECK(r["status"] == 200);
  CHECK(r["headers"]["x-request-id"] == "r-1");
  CHECK(r["headers"]["content-type"] == "application/json");
  CHECK(r["json"]["method"] == "GET");
  CHECK(r["json"]["target"] == "/quote?age=30");
  CHECK(r["json"]["x_api_key"] == "k1");
  CHECK(json::parse(r["body"].get<std::string>()) == r["json"]);
}

TEST_CASE("http: json= is sent as a JSON body and comes back parsed", "[http]") {
  FakeHttpServer server([](const FakeRequest& req) {
    return FakeReply::json(req.body(), 201).header("X-Seen-Type", std::string(req[boost::beast::http::field::content_type]));
  });
  boost::asio::io_context io;
  auto plugin = make_plugin("http", io, {{"allow_hosts", {"127.0.0.1:*"}}});
  json payload{{"nombre", "Ana"}, {"edad", 30}, {"planes", {"basico", "plus"}}};
  Outcome out;
  plugin->call(make_call("http", {{"method", "post"}, {"url", server.url("/leads")}, {"json", payload}}), out.done());
  REQUIRE(run_until(io, [&] { return out.calls > 0; }));
  REQUIRE(out.ok());
  CHECK(out.reply.value["status"] == 201);
  CHECK(out.reply.value["json"] == payload);
  CHECK(out.reply.value["headers"]["x-seen-type"] == "application/json");
  CHECK(server.received().at(0).method() == boost::beast::http::verb::post);

  Outcome text;
  plugin->call(make_call("http", {{"method", "PUT"}, {"url", server.url("/raw")}, {"body", "a=1&b=2"},
                                  {"headers", {{"Content-Type", "application/x-www-form-urlencoded"}}}}),
               text.done());
  REQUIRE(run_until(io, [&] { return text.calls > 0; }));
  REQUIRE(text.ok());
  CHECK(text.reply.value["body"] == "a=1&b=2");
  CHECK_FALSE(text.reply.value.contains("json"));
  CHECK(text.reply.value["headers"]["x-seen-type"] == "application/x-www-form-urlencoded");
}

TEST_CASE("http: error statuses are results, not errors", "[http]") {
  FakeHttpServer server([](const FakeRequest&) { return FakeReply::text("boom", 500); });
  boost::asio::io_context io;
  auto plugin = make_plugin("http", io, {{"allow_hosts", {"127.0.0.1:*"}}});
  Outcome out;
  plugin->call(make_call("http", {{"url", server.url()}}), out.done());
  REQUIRE(run_until(io, [&] { return out.calls > 0; }));
  REQUIRE(out.ok());
  CHECK(out.reply.value["status"] == 500);
  CHECK(out.reply.value["body"] == "boom");
}

TEST_CASE("http: response size limit, timeout, refused connection", "[http]") {
  FakeHttpServer server([](const FakeRequest& req) {
    if (req.target() == "/big") return FakeReply::text(std::string(4096, 'x'));
    if (req.target() == "/hang") return FakeReply::never();
    return FakeReply::text("small");
  });
  boost::asio::io_context io;
  auto plugin = make_plugin("http", io, {{"allow_hosts", {"127.0.0.1:*"}}, {"max_response_bytes", 1024}});

  Outcome big, small, hang, turn, refused;
  plugin->call(make_call("http", {{"url", server.url("/big")}}), big.done());
  plugin->call(make_call("http", {{"url", server.url("/small")}}), small.done());
  plugin->call(make_call("http", {{"url", server.url("/hang")}, {"timeout", "200ms"}}), hang.done());
  plugin->call(make_call("http", {{"url", server.url("/hang")}}, 300ms), turn.done());
  plugin->call(make_call("http", {{"url", "http://127.0.0.1:1/"}}), refused.done());
  REQUIRE(run_until(io, [&] { return big.calls && small.calls && hang.calls && turn.calls && refused.calls; }));
  CHECK(big.code() == "response_too_large");
  CHECK(small.ok());
  CHECK(hang.code() == "timeout");
  CHECK(hang.ms() < 1000);
  CHECK(turn.code() == "timeout");
  CHECK(turn.ms() < 1000);
  CHECK(refused.code() == "network");
}

TEST_CASE("http: wildcard allow-list entry end to end (*.localhost)", "[http]") {
  // curl resolves *.localhost to the loopback address itself: no DNS involved.
  FakeHttpServer server;
  boost::asio::io_context io;
  auto plugin = make_plugin("http", io, {{"allow_hosts", {"*.localhost:*"}}});
  Outcome sub, bare;
  plugin->call(make_call("http", {{"url", "http://api.localhost:" + std::to_string(server.port()) + "/"}}), sub.done());
  plugin->call(make_call("http", {{"url", "http://localhost:" + std::to_string(server.port()) + "/"}}), bare.done());
  REQUIRE(run_until(io, [&] { return sub.calls && bare.calls; }));
  CHECK(bare.reply.argument_error.find("host localhost port " + std::to_string(server.port()) + " is not on the allow-list") != std::string::npos);
  REQUIRE(sub.ok());
  CHECK(sub.reply.value["body"] == "ok");
}

TEST_CASE("http: bad arguments are argument errors", "[http]") {
  boost::asio::io_context io;
  auto plugin = make_plugin("http", io, {{"allow_hosts", {"127.0.0.1:*"}}});
  auto why = [&](json args) {
    Outcome out;
    plugin->call(make_call("http", std::move(args)), out.done());
    REQUIRE(run_until(io, [&] { return out.calls > 0; }));
    CHECK(out.calls == 1);
    return out.reply.argument_error;
  };
  CHECK(why(json::object()) == "http: 'url' (a string) is required");
  CHECK(why({{"url", "ftp://127.0.0.1/file"}}) == "http: only http and https URLs are allowed, not 'ftp'");
  CHECK(why({{"url", "not a url"}}).find("not a valid URL") != std::string::npos);
  CHECK(why({{"url", "http://127.0.0.1/"}, {"json", {{"a", 1}}}, {"body", "x"}}) == "http: give either 'json' or 'body', not both");
  CHECK(why({{"url", "http://127.0.0.1/"}, {"body", json{{"a", 1}}}}).find("'body' must be a string") != std::string::npos);
  CHECK(why({{"url", "http://127.0.0.1/"}, {"headers", {{"X-A", "a\r\nX-Injected: 1"}}}}).find("line break") != std::string::npos);
  CHECK(why({{"url", "http://127.0.0.1/"}, {"method", "GE T"}}).find("'method'") != std::string::npos);
  CHECK(why({{"url", "http://127.0.0.1/"}, {"timeout", -1}}).find("'timeout'") != std::string::npos);
  CHECK(why({{"url", "http://127.0.0.1/"}, {"verb", "GET"}}) ==
        "http: unknown argument 'verb' (expected body, headers, json, method, path, service, timeout, url)");
  CHECK(why({{"url", "http://127.0.0.1/"}, {"timout", 3000}}).find("unknown argument 'timout' (did you mean 'timeout'?") !=
        std::string::npos);
  CHECK(why({{"url", "http://127.0.0.1/"}, {"timeout", "soon"}}).find("milliseconds") != std::string::npos);
  CHECK(why({{"url", "http://user@evil.example@127.0.0.1/"}}).find("not a valid URL") != std::string::npos);
}

TEST_CASE("http: URLs that curl would read differently are refused", "[http]") {
  boost::asio::io_context io;
  auto plugin = make_plugin("http", io, {{"allow_hosts", {"127.0.0.1", "0x7f.1"}}});
  Outcome out;
  plugin->call(make_call("http", {{"url", "http://0x7f.1:1/"}}), out.done());  // curl: 127.0.0.1
  REQUIRE(run_until(io, [&] { return out.calls > 0; }));
  CHECK(out.reply.argument_error.find("ambiguous") != std::string::npos);
}

TEST_CASE("http: shutdown and destruction with calls in flight", "[http]") {
  FakeHttpServer server([](const FakeRequest&) { return FakeReply::never(); });
  boost::asio::io_context io;
  auto plugin = make_plugin("http", io, {{"allow_hosts", {"127.0.0.1:*"}}});
  Outcome a, b;
  plugin->call(make_call("http", {{"url", server.url("/a")}}), a.done());
  plugin->call(make_call("http", {{"url", server.url("/b")}}), b.done());
  run_until(io, [&] { return server.requests() == 2; });

  SECTION("shutdown() completes them with cancelled") {
    plugin->shutdown();
    REQUIRE(run_until(io, [&] { return a.calls && b.calls; }));
    run_for(io, 50ms);
    CHECK(a.calls == 1);
    CHECK(b.calls == 1);
    CHECK(a.code() == "cancelled");
    CHECK(b.code() == "cancelled");
  }
  SECTION("destruction calls nothing") {
    plugin.reset();
    run_for(io, 100ms);
    CHECK(a.calls == 0);
    CHECK(b.calls == 0);
  }
}

TEST_CASE("http: configuration errors name the key", "[http]") {
  boost::asio::io_context io;
  auto* factory = charla::PluginRegistry::instance().find("http");
  REQUIRE(factory);
  CHECK_THROWS_WITH((*factory)(io, {{"allowed_hosts", {"a.example"}}}), Catch::Contains("allowed_hosts"));
  CHECK_THROWS_WITH((*factory)(io, {{"timeout_ms", -5}}), Catch::Contains("timeout_ms"));
  CHECK_THROWS_WITH((*factory)(io, {{"allow_hosts", {{"insurance", "a.example"}}}}), Catch::Contains("allow_hosts.insurance"));
  CHECK_NOTHROW((*factory)(io, nullptr));
}
