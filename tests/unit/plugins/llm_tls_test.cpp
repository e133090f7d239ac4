// ctx:llm to an https:// provider with the default http_version "2": HTTP/2 over TLS on
// charla's own client, all calls in flight on one connection, the provider's certificate
// trusted through plugins.llm.ca_file (the fixture tests/fixtures/tls/localhost.pem).
#include "llm/llm_config.hpp"
#include "llm/llm_plugin.hpp"
#include "support/fake_llm.hpp"
#include "unit/plugins/plugin_harness.hpp"

#include <list>

using namespace std::chrono_literals;
using charla::plugins::llm::LlmConfig;
using charla::test::call_many;
using charla::test::FakeLlm;
using charla::test::FakeTls;
using charla::test::LlmStep;
using charla::test::make_call;
using charla::test::make_plugin;
using charla::test::Outcome;
using charla::test::run_until;
using json = nlohmann::json;

namespace {

const std::string kCert = std::string(CHARLA_FIXTURES_DIR) + "/tls/localhost.pem";
const std::string kKey = std::string(CHARLA_FIXTURES_DIR) + "/tls/localhost.key";

}  // namespace

TEST_CASE("llm: over https with http_version \"2\", 40 concurrent calls share one TLS connection", "[llm][http2]") {
  FakeLlm llm(FakeLlm::Wire::tls, FakeTls{kCert, kKey});
  llm.set_default(LlmStep::reply({}, 300ms));
  boost::asio::io_context io;
  auto plugin = make_plugin("llm", io, {{"base_url", llm.base_url()}, {"model", "gpt-test"}, {"ca_file", kCert},
                                        {"max_concurrency", 100}});
  const std::list<Outcome> outs = call_many(io, *plugin, 40);
  int i = 0;
  for (const Outcome& o : outs) {
    INFO("call " << i << ": " << o.code() << " " << o.message());
    REQUIRE(o.ok());
    CHECK(o.reply.value == "echo: pregunta " + std::to_string(i++));
  }
  CHECK(llm.h2c().requests() == 40);
  CHECK(llm.h2c().max_active() == 40);
  CHECK(llm.h2c().connections() == 1);
  CHECK(llm.requests().at(0).version() == 20);  // HTTP/2 at the provider
}

TEST_CASE("llm: without ca_file an unknown certificate fails the call as a network error", "[llm][http2]") {
  FakeLlm llm(FakeLlm::Wire::tls, FakeTls{kCert, kKey});
  boost::asio::io_context io;
  auto plugin = make_plugin("llm", io, {{"base_url", llm.base_url()}, {"max_retries", 0}});
  Outcome out;
  plugin->call(make_call("llm", {{"prompt", "hola"}}), out.done());
  REQUIRE(run_until(io, [&] { return out.calls > 0; }, 10s));
  CHECK(out.code() == "network");
  CHECK(out.message().find("certificate verify failed") != std::string::npos);
  CHECK(llm.h2c().requests() == 0);
}

TEST_CASE("llm: ca_file configuration", "[llm][http2]") {
  CHECK(LlmConfig::from_json(json::object()).ca_file.empty());
  CHECK(LlmConfig::from_json({{"ca_file", "/etc/ssl/private-ca.pem"}}).ca_file == "/etc/ssl/private-ca.pem");
  CHECK_THROWS_WITH(LlmConfig::from_json({{"ca_file", 1}}), Catch::Contains("plugins.llm.ca_file"));
  CHECK_THROWS_WITH(LlmConfig::from_json({{"ca_file", ""}}), Catch::Contains("plugins.llm.ca_file"));
}
