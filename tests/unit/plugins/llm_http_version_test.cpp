// ctx:llm's HTTP version (plugins.llm.http_version): with "h2c" many calls in flight
// share one HTTP/2 connection to the provider (a real HTTP/2 peer: libnghttp2 over
// 127.0.0.1), and the plugin's behaviour (replies, retries, timeouts) is the same as
// over HTTP/1.1, where each call in flight holds its own connection.
#include "llm/llm_plugin.hpp"
#include "support/fake_llm.hpp"
#include "unit/plugins/plugin_harness.hpp"

#include <list>

using namespace std::chrono_literals;
using charla::plugins::llm::LlmConfig;
using charla::plugins::llm::LlmHttpVersion;
using charla::test::FakeLlm;
using charla::test::LlmStep;
using charla::test::call_many;
using charla::test::make_call;
using charla::test::make_plugin;
using charla::test::Outcome;
using charla::test::run_until;
using json = nlohmann::json;

namespace {

json config_for(const FakeLlm& llm, const std::string& version) {
  return {{"base_url", llm.base_url()}, {"api_key", "sk-test"}, {"model", "gpt-test"}, {"retry_backoff_ms", 20},
          {"http_version", version}, {"max_concurrency", 100}};
}


void check_each_reply(const std::list<Outcome>& outs) {
  int i = 0;
  for (const Outcome& o : outs) {
    INFO("call " << i << ": " << o.code() << " " << o.message());
    REQUIRE(o.ok());
    CHECK(o.reply.value == "echo: pregunta " + std::to_string(i));  // each call gets its own answer
    ++i;
  }
}

}  // namespace

TEST_CASE("llm: with http_version h2c, 50 concurrent calls complete over one connection", "[llm][http2]") {
  FakeLlm llm(FakeLlm::Wire::h2c);
  llm.set_default(LlmStep::reply({}, 300ms));  // long enough for all 50 to be in flight together
  boost::asio::io_context io;
  auto plugin = make_plugin("llm", io, config_for(llm, "h2c"));
  auto outs = call_many(io, *plugin, 50);
  check_each_reply(outs);
  CHECK(llm.h2c().requests() == 50);
  CHECK(llm.h2c().max_active() == 50);    // all at once, not one after the other
  CHECK(llm.h2c().connections() == 1);    // multiplexed on a single connection

  // Authorization and the JSON body arrive as over HTTP/1.1.
  auto requests = llm.requests();
  REQUIRE(requests.size() == 50);
  CHECK(requests[0].target() == "/v1/chat/completions");
  CHECK(requests[0]["Authorization"] == "Bearer sk-test");
  CHECK(llm.bodies().at(0)["model"] == "gpt-test");
}

TEST_CASE("llm: over h2c, a burst of 150 calls beyond curl's default 100 streams shares one connection",
          "[llm][http2]") {
  FakeLlm llm(FakeLlm::Wire::h2c);
  llm.set_default(LlmStep::reply({}, 500ms));
  boost::asio::io_context io;
  json config = config_for(llm, "h2c");
  config["max_concurrency"] = 200;
  auto plugin = make_plugin("llm", io, config);
  auto outs = call_many(io, *plugin, 150);
  check_each_reply(outs);
  CHECK(llm.h2c().requests() == 150);  // no attempt failed and was retried
  CHECK(llm.h2c().max_active() == 150);
  CHECK(llm.h2c().connections() == 1);  // the stream limit follows max_concurrency
}

TEST_CASE("llm: a reply much larger than curl's receive buffer arrives whole, over h2c and 1.1", "[llm][http2]") {
  const bool h2c = GENERATE(true, false);
  INFO((h2c ? "h2c" : "1.1"));
  FakeLlm llm(h2c ? FakeLlm::Wire::h2c : FakeLlm::Wire::http1);
  std::string big;
  for (int i = 0; big.size() < 300'000; ++i) big += "línea " + std::to_string(i) + " de una respuesta larga. ";
  llm.script({LlmStep::reply(big, 50ms), LlmStep::reply(big, 50ms), LlmStep::reply(big, 50ms)});
  boost::asio::io_context io;
  auto plugin = make_plugin("llm", io, config_for(llm, h2c ? "h2c" : "1.1"));
  auto outs = call_many(io, *plugin, 3);
  for (const Outcome& o : outs) {
    REQUIRE(o.ok());
    CHECK(o.reply.value == big);
  }
}

TEST_CASE("llm: with http_version 1.1, each call in flight has its own connection", "[llm][http2]") {
  FakeLlm llm;
  llm.set_default(LlmStep::reply({}, 300ms));
  boost::asio::io_context io;
  auto plugin = make_plugin("llm", io, config_for(llm, "1.1"));
  auto outs = call_many(io, *plugin, 20);
  check_each_reply(outs);
  CHECK(llm.server().max_active() == 20);
  CHECK(llm.server().connections() == 20);
}

TEST_CASE("llm: the default \"2\" speaks HTTP/1.1 to a plain http:// provider", "[llm][http2]") {
  FakeLlm llm;  // HTTP/1.1 only: HTTP/2 without TLS needs "h2c"
  llm.set_default(LlmStep::reply({}, 100ms));
  boost::asio::io_context io;
  json config = config_for(llm, "2");
  config.erase("http_version");
  auto plugin = make_plugin("llm", io, config);
  auto outs = call_many(io, *plugin, 5);
  check_each_reply(outs);
  CHECK(llm.server().max_active() == 5);  // not held back waiting to multiplex
}

TEST_CASE("llm: over h2c, 429 with Retry-After is retried and a timed-out call leaves the connection usable",
          "[llm][http2]") {
  FakeLlm llm(FakeLlm::Wire::h2c);
  llm.script({LlmStep::rate_limited(1), LlmStep::reply("segundo intento"), LlmStep::hang()});
  boost::asio::io_context io;
  auto plugin = make_plugin("llm", io, config_for(llm, "h2c"));

  Outcome retried;
  plugin->call(make_call("llm", {{"prompt", "hola"}}), retried.done());
  REQUIRE(run_until(io, [&] { return retried.calls > 0; }, 10s));
  REQUIRE(retried.ok());
  CHECK(retried.reply.value == "segundo intento");
  CHECK(retried.ms() >= 900);  // waited for Retry-After: 1

  Outcome hung;
  plugin->call(make_call("llm", {{"prompt", "hola"}, {"timeout", 300}}), hung.done());
  REQUIRE(run_until(io, [&] { return hung.calls > 0; }, 10s));
  CHECK(hung.code() == "timeout");

  Outcome after;
  plugin->call(make_call("llm", {{"prompt", "otra vez"}}), after.done());
  REQUIRE(run_until(io, [&] { return after.calls > 0; }, 10s));
  REQUIRE(after.ok());
  CHECK(after.reply.value == "echo: otra vez");
  CHECK(llm.h2c().requests() == 4);
  CHECK(llm.h2c().connections() == 1);  // the timed-out stream was reset, not the connection
}

TEST_CASE("llm: http_version configuration", "[llm][http2]") {
  CHECK(LlmConfig::from_json(json::object()).http_version == LlmHttpVersion::http2);
  CHECK(LlmConfig::from_json({{"http_version", "1.1"}}).http_version == LlmHttpVersion::http1_1);
  CHECK(LlmConfig::from_json({{"http_version", "h2c"}}).http_version == LlmHttpVersion::h2c);
  CHECK_THROWS_WITH(LlmConfig::from_json({{"http_version", "3"}}),
                    Catch::Contains("plugins.llm.http_version") && Catch::Contains("\"1.1\", \"2\" or \"h2c\""));
  CHECK_THROWS_WITH(LlmConfig::from_json({{"http_version", 2}}), Catch::Contains("plugins.llm.http_version"));
}
