// ctx:http{service=, path=}: named services whose secret headers come from the
// environment (plugins.http.services), against a real HTTP server on 127.0.0.1.
#include "support/fake_http_server.hpp"
#include "unit/plugins/plugin_harness.hpp"

#include <cstdlib>

using charla::test::FakeHttpServer;
using charla::test::FakeReply;
using charla::test::FakeRequest;
using charla::test::make_call;
using charla::test::make_plugin;
using charla::test::Outcome;
using charla::test::run_until;
using json = nlohmann::json;

namespace {

const char* kSecret = "crm-s3cr3t-token";

FakeHttpServer crm_server() {
  return FakeHttpServer([](const FakeRequest& req) {
    json seen{{"target", req.target()}, {"authorization", req[boost::beast::http::field::authorization]},
              {"body", req.body()}};
    return FakeReply::json(seen.dump());
  });
}

json crm_config(const FakeHttpServer& server) {
  ::setenv("CHARLA_TEST_CRM_TOKEN", kSecret, 1);
  return {{"services", json::array({{{"name", "crm"}, {"base_url", server.url("/api/")},
                                     {"headers_env", {{"Authorization", "CHARLA_TEST_CRM_TOKEN"}}}}})}};
}

}  // namespace

TEST_CASE("http services: the secret header is sent; no allow_hosts entry is needed", "[http][services]") {
  FakeHttpServer server = crm_server();
  boost::asio::io_context io;
  auto plugin = make_plugin("http", io, crm_config(server));
  Outcome out;
  plugin->call(make_call("http", {{"service", "crm"}, {"path", "/leads"}, {"method", "POST"}, {"json", {{"n", 1}}}}),
               out.done());
  REQUIRE(run_until(io, [&] { return out.calls > 0; }));
  REQUIRE(out.ok());
  CHECK(out.reply.value["json"]["target"] == "/api/leads");
  CHECK(out.reply.value["json"]["authorization"] == kSecret);  // the server got it (and chose to echo it)
  CHECK(server.requests() == 1);
}

TEST_CASE("http services: a flow cannot override, redirect or name an unknown service", "[http][services]") {
  FakeHttpServer server = crm_server();
  boost::asio::io_context io;
  auto plugin = make_plugin("http", io, crm_config(server));
  auto refused = [&](json args, const std::string& why) {
    Outcome out;
    plugin->call(make_call("http", args), out.done());
    REQUIRE(run_until(io, [&] { return out.calls > 0; }));
    CHECK_THAT(out.reply.argument_error, Catch::Contains(why));
    CHECK(out.reply.argument_error.find(kSecret) == std::string::npos);
  };
  refused({{"service", "crm"}, {"path", "/x"}, {"headers", {{"authorization", "mine"}}}}, "is set by service crm");
  refused({{"service", "crm"}, {"path", "//evil.example/x"}}, "'path' must start with a single");
  refused({{"service", "crm"}, {"path", "@evil.example/x"}}, "'path' must start with a single");
  refused({{"service", "crm"}}, "'path' (a string");
  refused({{"service", "erp"}, {"path", "/x"}}, "no service named 'erp'");
  refused({{"service", "crm"}, {"path", "/x"}, {"url", server.url("/")}}, "not both");
  CHECK(server.requests() == 0);
}

TEST_CASE("http services: a failing call's error does not carry the secret", "[http][services]") {
  ::setenv("CHARLA_TEST_CRM_TOKEN", kSecret, 1);
  boost::asio::io_context io;
  auto plugin = make_plugin("http", io, {{"services", json::array({{{"name", "crm"}, {"base_url", "http://127.0.0.1:1"},
                                                                    {"headers_env", {{"X-Key", "CHARLA_TEST_CRM_TOKEN"}}}}})}});
  Outcome out;
  plugin->call(make_call("http", {{"service", "crm"}, {"path", "/leads"}}), out.done());
  REQUIRE(run_until(io, [&] { return out.calls > 0; }));
  CHECK(out.code() == "network");
  CHECK(out.reply.error.dump().find(kSecret) == std::string::npos);
}

TEST_CASE("http services: configuration errors name the service and the variable", "[http][services]") {
  boost::asio::io_context io;
  auto* factory = charla::PluginRegistry::instance().find("http");
  REQUIRE(factory);
  ::unsetenv("CHARLA_TEST_MISSING_TOKEN");
  auto missing = json{{"services", json::array({{{"name", "crm"}, {"base_url", "https://crm.example"},
                                                 {"headers_env", {{"Authorization", "CHARLA_TEST_MISSING_TOKEN"}}}}})}};
  CHECK_THROWS_WITH((*factory)(io, missing), Catch::Contains("(crm): environment variable CHARLA_TEST_MISSING_TOKEN") &&
                                                 Catch::Contains("is not set"));
  CHECK_THROWS_WITH((*factory)(io, {{"services", json::array({{{"name", "crm"}, {"base_url", "ftp://x"}}})}}),
                    Catch::Contains("base_url"));
  CHECK_THROWS_WITH((*factory)(io, {{"services", json::array({{{"name", "crm"}, {"base_url", "https://u:p@x.example"}}})}}),
                    Catch::Contains("no user:password@"));
  CHECK_THROWS_WITH((*factory)(io, {{"services", json::array({{{"name", "crm"}, {"url", "https://x.example"}}})}}),
                    Catch::Contains("unknown key 'url'"));
}
