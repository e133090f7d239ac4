// ctx:llm against a fake OpenAI-compatible server over real HTTP on 127.0.0.1.
#include "llm/llm_plugin.hpp"
#include "support/closed_port.hpp"
#include "support/fake_llm.hpp"
#include "unit/plugins/plugin_harness.hpp"

#include <iostream>
#include <list>

using namespace std::chrono_literals;
using charla::PluginCall;
using charla::plugins::llm::LlmError;
using charla::plugins::llm::LlmPlugin;
using charla::test::closed_port;
using charla::test::FakeLlm;
using charla::test::LlmStep;
using charla::test::make_call;
using charla::test::make_plugin;
using charla::test::Outcome;
using charla::test::run_for;
using charla::test::run_until;
using json = nlohmann::json;

namespace {

json config_for(const FakeLlm& llm, json extra = json::object()) {
  json c{{"base_url", llm.base_url()}, {"api_key", "sk-test"}, {"model", "gpt-test"}, {"retry_backoff_ms", 20}};
  c.update(extra);
  return c;
}

const LlmPlugin& concrete(const std::unique_ptr<charla::Plugin>& p) { return dynamic_cast<const LlmPlugin&>(*p); }

}  // namespace

TEST_CASE("llm: a prompt gets the reply text", "[llm]") {
  FakeLlm llm;
  llm.script({LlmStep::reply("¡Hola! Soy Vida.")});
  boost::asio::io_context io;
  auto plugin = make_plugin("llm", io, config_for(llm, {{"temperature", 0.2}}));
  CHECK(plugin->methods() == std::vector<std::string>{"llm"});

  Outcome out;
  plugin->call(make_call("llm", {{"system", "Eres un asesor."}, {"prompt", "Hola"}, {"max_tokens", 50}}), out.done());
  CHECK(out.calls == 0);  // never from inside call()
  REQUIRE(run_until(io, [&] { return out.calls > 0; }));
  REQUIRE(out.ok());
  CHECK(out.reply.value == "¡Hola! Soy Vida.");

  auto requests = llm.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].target() == "/v1/chat/completions");
  CHECK(requests[0]["Authorization"] == "Bearer sk-test");
  CHECK(requests[0]["Content-Type"] == "application/json");
  json body = llm.bodies().at(0);
  CHECK(body["model"] == "gpt-test");
  CHECK(body["temperature"] == 0.2);
  CHECK(body["max_tokens"] == 50);
  CHECK(body["messages"] == json::array({{{"role", "system"}, {"content", "Eres un asesor."}}, {{"role", "user"}, {"content", "Hola"}}}));
  CHECK_FALSE(body.contains("response_format"));

  const auto& m = concrete(plugin).metrics();
  CHECK(m.calls == 1);
  CHECK(m.successes == 1);
  CHECK(m.http_requests == 1);
  CHECK(m.prompt_tokens == 4);  // the fake counts words
  CHECK(m.completion_tokens == 3);
  CHECK(m.latency_count == 1);
  CHECK(m.in_flight == 0);
}

TEST_CASE("llm: messages, per-call model and the conversation so far", "[llm]") {
  FakeLlm llm;
  boost::asio::io_context io;
  auto plugin = make_plugin("llm", io, config_for(llm));
  Outcome out;
  json messages = json::array({{{"role", "user"}, {"content", "Tengo 30 años"}},
                               {{"role", "assistant"}, {"content", "¿Fumas?"}},
                               {{"role", "user"}, {"content", "No"}}});
  plugin->call(make_call("llm", {{"messages", messages}, {"model", "other-model"}, {"system", "S"}}), out.done());
  REQUIRE(run_until(io, [&] { return out.calls > 0; }));
  REQUIRE(out.ok());
  CHECK(out.reply.value == "echo: No");
  json body = llm.bodies().at(0);
  CHECK(body["model"] == "other-model");
  REQUIRE(body["messages"].size() == 4);
  CHECK(body["messages"][0]["role"] == "system");
  CHECK(body["messages"][3]["content"] == "No");
}

TEST_CASE("llm: json=true asks for a JSON object and returns it parsed", "[llm]") {
  FakeLlm llm;
  llm.script({LlmStep::reply(R"({"plan":"basico","precio":350})"),
              LlmStep::reply("```json\n{\"plan\":\"premium\"}\n```"),
              LlmStep::reply("Claro, el plan básico cuesta 350.")});
  boost::asio::io_context io;
  auto plugin = make_plugin("llm", io, config_for(llm));
  Outcome a, b, c;
  json args{{"prompt", "cotiza"}, {"json", true}};
  plugin->call(make_call("llm", args), a.done());
  REQUIRE(run_until(io, [&] { return a.calls > 0; }));
  plugin->call(make_call("llm", args), b.done());
  REQUIRE(run_until(io, [&] { return b.calls > 0; }));
  plugin->call(make_call("llm", args), c.done());
  REQUIRE(run_until(io, [&] { return c.calls > 0; }));

  REQUIRE(a.ok());
  CHECK(a.reply.value == json{{"plan", "basico"}, {"precio", 350}});
  REQUIRE(b.ok());
  CHECK(b.reply.value == json{{"plan", "premium"}});
  CHECK(c.code() == "bad_response");
  CHECK(llm.bodies().at(0)["response_format"] == json{{"type", "json_object"}});
}

TEST_CASE("llm: 429 then 200 is retried, honouring Retry-After", "[llm]") {
  FakeLlm llm;
  boost::asio::io_context io;
  auto plugin = make_plugin("llm", io, config_for(llm));

  SECTION("Retry-After: 1") {
    llm.script({LlmStep::rate_limited(1), LlmStep::reply("ok")});
    Outcome out;
    plugin->call(make_call("llm", {{"prompt", "hola"}}), out.done());
    REQUIRE(run_until(io, [&] { return out.calls > 0; }));
    REQUIRE(out.ok());
    CHECK(out.reply.value == "ok");
    CHECK(out.ms() >= 950);  // waited as told
    CHECK(out.ms() < 3000);
    CHECK(llm.bodies().size() == 2);
    CHECK(concrete(plugin).metrics().retries == 1);
  }
  SECTION("no Retry-After: exponential backoff") {
    llm.script({LlmStep::rate_limited(), LlmStep::rate_limited(), LlmStep::reply("ok")});
    Outcome out;
    plugin->call(make_call("llm", {{"prompt", "hola"}}), out.done());
    REQUIRE(run_until(io, [&] { return out.calls > 0; }));
    REQUIRE(out.ok());
    CHECK(llm.bodies().size() == 3);
    CHECK(concrete(plugin).metrics().retries == 2);
  }
  SECTION("Retry-After beyond the deadline: fail now with http_429") {
    llm.script({LlmStep::rate_limited(30)});
    Outcome out;
    plugin->call(make_call("llm", {{"prompt", "hola"}, {"timeout", 2000}}), out.done());
    REQUIRE(run_until(io, [&] { return out.calls > 0; }));
    CHECK(out.code() == "http_429");
    CHECK(out.ms() < 500);
    CHECK(llm.bodies().size() == 1);
  }
}

TEST_CASE("llm: 5xx beyond max_retries fails with http_5xx", "[llm]") {
  FakeLlm llm;
  llm.set_default(LlmStep::server_error(500));
  boost::asio::io_context io;
  auto plugin = make_plugin("llm", io, config_for(llm, {{"max_retries", 2}}));
  Outcome out;
  plugin->call(make_call("llm", {{"prompt", "hola"}}), out.done());
  REQUIRE(run_until(io, [&] { return out.calls > 0; }));
  CHECK(out.code() == "http_5xx");
  CHECK(out.message().find("The server had an error") != std::string::npos);
  CHECK(llm.bodies().size() == 3);  // 1 + 2 retries
  CHECK(concrete(plugin).metrics().error_count(LlmError::http_5xx) == 1);
}

TEST_CASE("llm: 4xx is not retried", "[llm]") {
  FakeLlm llm;
  llm.server().set_handler([](const charla::test::FakeRequest&) {
    return charla::test::FakeReply::json(FakeLlm::error_body("Incorrect API key provided", "invalid_request_error"), 401);
  });
  boost::asio::io_context io;
  auto plugin = make_plugin("llm", io, config_for(llm));
  Outcome out;
  plugin->call(make_call("llm", {{"prompt", "hola"}}), out.done());
  REQUIRE(run_until(io, [&] { return out.calls > 0; }));
  CHECK(out.code() == "http_4xx");
  CHECK(out.message() == "HTTP 401: Incorrect API key provided");
  CHECK(llm.server().requests() == 1);
}

TEST_CASE("llm: a hanging provider times out within the deadline", "[llm]") {
  FakeLlm llm;
  llm.set_default(LlmStep::hang());
  boost::asio::io_context io;
  auto plugin = make_plugin("llm", io, config_for(llm));

  SECTION("the call's own timeout, in milliseconds: 300 fails after ~0.3 s, not the turn budget") {
    Outcome out;
    plugin->call(make_call("llm", {{"prompt", "hola"}, {"timeout", 300}}), out.done());
    REQUIRE(run_until(io, [&] { return out.calls > 0; }));
    CHECK(out.code() == "timeout");
    CHECK(out.ms() >= 290);
    CHECK(out.ms() < 1000);
  }
  SECTION("the turn's remaining budget") {
    Outcome out;
    plugin->call(make_call("llm", {{"prompt", "hola"}, {"timeout", "10s"}}, 300ms), out.done());
    REQUIRE(run_until(io, [&] { return out.calls > 0; }));
    CHECK(out.code() == "timeout");
    CHECK(out.ms() < 1000);
  }
  SECTION("a budget already spent") {
    Outcome out;
    plugin->call(make_call("llm", {{"prompt", "hola"}}, -1ms), out.done());
    CHECK(out.calls == 0);
    REQUIRE(run_until(io, [&] { return out.calls > 0; }));
    CHECK(out.code() == "budget_exceeded");
    CHECK(llm.server().requests() == 0);
  }
}

TEST_CASE("llm: malformed JSON from the provider is bad_response", "[llm]") {
  FakeLlm llm;
  llm.script({LlmStep::malformed()});
  boost::asio::io_context io;
  auto plugin = make_plugin("llm", io, config_for(llm));
  Outcome out;
  plugin->call(make_call("llm", {{"prompt", "hola"}}), out.done());
  REQUIRE(run_until(io, [&] { return out.calls > 0; }));
  CHECK(out.code() == "bad_response");
  CHECK(llm.bodies().size() == 1);  // not retried
}

TEST_CASE("llm: bad arguments are argument errors", "[llm]") {
  FakeLlm llm;
  boost::asio::io_context io;
  auto plugin = make_plugin("llm", io, config_for(llm));
  auto why = [&](json args) {
    Outcome out;
    plugin->call(make_call("llm", std::move(args)), out.done());
    CHECK(out.calls == 0);
    REQUIRE(run_until(io, [&] { return out.calls > 0; }));
    CHECK(out.calls == 1);
    CHECK(out.reply.error.is_null());
    return out.reply.argument_error;
  };
  CHECK(why(json::object()).find("needs 'prompt'") != std::string::npos);
  CHECK(why({{"system", "solo sistema"}}).find("needs 'prompt'") != std::string::npos);
  CHECK(why({{"prompt", 5}}) == "llm: 'prompt' must be a string");
  CHECK(why({{"promt", "typo"}}).find("llm: unknown argument 'promt' (did you mean 'prompt'?") == 0);
  CHECK(why({{"prompt", "x"}, {"timout", 3000}}).find("unknown argument 'timout' (did you mean 'timeout'?") !=
        std::string::npos);
  CHECK(why({{"messages", "hola"}}).find("'messages' must be an array") != std::string::npos);
  CHECK(why({{"messages", json::array({{{"role", "user"}}})}}) == "llm: messages[1].content must be a string");
  CHECK(why({{"prompt", "x"}, {"temperature", "hot"}}).find("temperature") != std::string::npos);
  CHECK(why({{"prompt", "x"}, {"max_tokens", 1.5}}).find("max_tokens") != std::string::npos);
  CHECK(why({{"prompt", "x"}, {"timeout", 0}}).find("timeout") != std::string::npos);
  CHECK(why({{"prompt", "x"}, {"json", "yes"}}).find("json") != std::string::npos);
  CHECK(llm.server().requests() == 0);
  CHECK(concrete(plugin).metrics().argument_errors == 11);
}

TEST_CASE("llm: configuration", "[llm]") {
  boost::asio::io_context io;
  SECTION("no base_url: not_configured") {
    auto plugin = make_plugin("llm", io, {{"base_url", ""}});
    Outcome out;
    plugin->call(make_call("llm", {{"prompt", "hola"}}), out.done());
    REQUIRE(run_until(io, [&] { return out.calls > 0; }));
    CHECK(out.code() == "not_configured");
  }
  SECTION("unknown keys and bad values are rejected, naming the key") {
    auto* factory = charla::PluginRegistry::instance().find("llm");
    REQUIRE(factory);
    CHECK_THROWS_WITH((*factory)(io, {{"base_url", "http://x"}, {"modle", "gpt"}}), Catch::Contains("modle"));
    CHECK_THROWS_WITH((*factory)(io, {{"timeout_ms", "soon"}}), Catch::Contains("timeout_ms"));
    CHECK_THROWS_AS((*factory)(io, {{"max_concurrency", 0}}), std::invalid_argument);
  }
  SECTION("environment defaults; trailing slash trimmed") {
    setenv("LLM_BASE_URL", "http://127.0.0.1:9/v1/", 1);
    setenv("LLM_API_KEY", "sk-env", 1);
    setenv("LLM_MODEL", "env-model", 1);
    auto plugin = make_plugin("llm", io, nullptr);
    unsetenv("LLM_BASE_URL");
    unsetenv("LLM_API_KEY");
    unsetenv("LLM_MODEL");
    const auto& c = concrete(plugin).config();
    CHECK(c.base_url == "http://127.0.0.1:9/v1");
    CHECK(c.api_key == "sk-env");
    CHECK(c.model == "env-model");
    CHECK(c.timeout == 15000ms);
    CHECK(c.max_concurrency == 32);
    CHECK(c.max_retries == 2);
  }
}

TEST_CASE("llm: connection refused is retried, then network", "[llm]") {
  const std::uint16_t port = closed_port();
  boost::asio::io_context io;
  auto plugin = make_plugin("llm", io, {{"base_url", "http://127.0.0.1:" + std::to_string(port) + "/v1"}, {"retry_backoff_ms", 10}});
  Outcome out;
  plugin->call(make_call("llm", {{"prompt", "hola"}}), out.done());
  REQUIRE(run_until(io, [&] { return out.calls > 0; }));
  CHECK(out.code() == "network");
  CHECK(concrete(plugin).metrics().http_requests == 3);
}

TEST_CASE("llm: 200 calls with 500 ms latency share one loop", "[llm][perf]") {
  FakeLlm llm;
  llm.set_default(LlmStep::reply("", 500ms));
  boost::asio::io_context io;
  auto plugin = make_plugin("llm", io, config_for(llm, {{"max_concurrency", 256}}));
  std::list<Outcome> outs(200);
  auto t0 = charla::test::Clock::now();
  int i = 0;
  for (auto& out : outs) plugin->call(make_call("llm", {{"prompt", "pregunta " + std::to_string(i++)}}), out.done());
  REQUIRE(run_until(io, [&] { return std::all_of(outs.begin(), outs.end(), [](const Outcome& o) { return o.calls > 0; }); }));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(charla::test::Clock::now() - t0).count();
  std::cout << "[llm] 200 calls x 500 ms server latency on one loop: " << ms << " ms (server saw max "
            << llm.server().max_active() << " at once, " << llm.server().connections() << " connections)\n";
  i = 0;
  for (auto& out : outs) {
    REQUIRE(out.ok());
    CHECK(out.reply.value == "echo: pregunta " + std::to_string(i++));  // each reply to its own call
  }
  CHECK(ms < 2500);
}

TEST_CASE("llm: max_concurrency queues extra calls FIFO", "[llm]") {
  FakeLlm llm;
  llm.set_default(LlmStep::reply("", 100ms));
  boost::asio::io_context io;
  auto plugin = make_plugin("llm", io, config_for(llm, {{"max_concurrency", 4}}));
  std::list<Outcome> outs(20);
  int i = 0;
  for (auto& out : outs) plugin->call(make_call("llm", {{"prompt", std::to_string(i++)}}), out.done());
  CHECK(concrete(plugin).metrics().queued == 16);
  REQUIRE(run_until(io, [&] { return std::all_of(outs.begin(), outs.end(), [](const Outcome& o) { return o.calls > 0; }); }));
  for (auto& out : outs) CHECK(out.ok());
  CHECK(llm.server().max_active() == 4);
  // FIFO: the server saw the prompts in call order, in batches of four.
  auto bodies = llm.bodies();
  REQUIRE(bodies.size() == 20);
  for (std::size_t k = 4; k < bodies.size(); ++k)
    CHECK(std::stoi(bodies[k]["messages"][0]["content"].get<std::string>()) >= static_cast<int>(k / 4) * 4);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(outs.back().finished - outs.front().started).count();
  CHECK(ms >= 480);  // five rounds of 100 ms
  CHECK(concrete(plugin).metrics().queued == 0);
  CHECK(concrete(plugin).metrics().in_flight == 0);
}

TEST_CASE("llm: a queued call whose deadline passes fails with budget_exceeded", "[llm]") {
  FakeLlm llm;
  llm.set_default(LlmStep::hang());
  boost::asio::io_context io;
  auto plugin = make_plugin("llm", io, config_for(llm, {{"max_concurrency", 1}}));
  Outcome first, second;
  plugin->call(make_call("llm", {{"prompt", "a"}, {"timeout", 2000}}), first.done());
  plugin->call(make_call("llm", {{"prompt", "b"}, {"timeout", 200}}), second.done());
  REQUIRE(run_until(io, [&] { return second.calls > 0; }));
  CHECK(second.code() == "budget_exceeded");
  CHECK(second.ms() < 800);
  CHECK(first.calls == 0);
  plugin->shutdown();
  REQUIRE(run_until(io, [&] { return first.calls > 0; }));
  CHECK(first.code() == "cancelled");
}

TEST_CASE("llm: shutdown with calls in flight and queued", "[llm]") {
  FakeLlm llm;
  llm.set_default(LlmStep::reply("", 300ms));
  boost::asio::io_context io;
  auto plugin = make_plugin("llm", io, config_for(llm, {{"max_concurrency", 2}}));

  SECTION("shutdown() fails every pending call with cancelled, exactly once") {
    std::list<Outcome> outs(5);
    for (auto& out : outs) plugin->call(make_call("llm", {{"prompt", "x"}}), out.done());
    run_until(io, [&] { return llm.server().requests() == 2; });
    plugin->shutdown();
    REQUIRE(run_until(io, [&] { return std::all_of(outs.begin(), outs.end(), [](const Outcome& o) { return o.calls > 0; }); }));
    run_for(io, 500ms);  // the server's late replies change nothing
    for (auto& out : outs) {
      CHECK(out.calls == 1);
      CHECK(out.code() == "cancelled");
    }
    Outcome late;
    plugin->call(make_call("llm", {{"prompt", "x"}}), late.done());
    REQUIRE(run_until(io, [&] { return late.calls > 0; }));
    CHECK(late.code() == "cancelled");
    CHECK(concrete(plugin).metrics().in_flight == 0);
  }
  SECTION("destroying the plugin calls nothing afterwards") {
    std::list<Outcome> outs(5);
    for (auto& out : outs) plugin->call(make_call("llm", {{"prompt", "x"}}), out.done());
    run_until(io, [&] { return llm.server().requests() == 2; });
    plugin.reset();
    run_for(io, 500ms);
    for (auto& out : outs) CHECK(out.calls == 0);
  }
}

TEST_CASE("llm: process-wide metrics in Prometheus text", "[llm]") {
  std::string text = charla::plugins::llm::llm_metrics_prometheus();
  CHECK(text.find("# TYPE charla_llm_calls_total counter") != std::string::npos);
  CHECK(text.find("charla_llm_errors_total{code=\"http_5xx\"}") != std::string::npos);
  CHECK(text.find("charla_llm_latency_seconds_bucket{le=\"+Inf\"}") != std::string::npos);
  CHECK(charla::plugins::llm::process_llm_metrics().calls > 0);
}
