// Guarantee 4 through the whole engine: a turn waiting on ctx:llm suspends its
// coroutine and the worker serves other conversations meanwhile; a slow or hanging
// provider ends in the flow's own answer or its llm_fallback, never a stuck engine.
#include "runtime_fixture.hpp"
#include "support/fake_llm.hpp"

#include <catch2/catch.hpp>

using namespace charla;
using namespace charla::testing;
using charla::test::FakeLlm;
using charla::test::LlmStep;

namespace {

const char* kAskFlow = R"lua(
return {
  name = "ask", initial = "S",
  llm_fallback = "Ahora no puedo responder eso; un asesor te escribirá.",
  states = {
    S = {
      message = function(ctx, msg)
        if msg.text == "sin manejo" then
          local answer = ctx:llm{ prompt = msg.text }
          return ctx:say("IA: " .. answer)          -- fails when answer is nil
        end
        local answer, err = ctx:llm{ system = "Eres un asesor de seguros.", prompt = msg.text }
        if not answer then return ctx:say("sin IA (" .. err.code .. ")") end
        ctx:say("IA: " .. answer)
      end,
    },
  },
}
)lua";

struct LlmHarness {
  TempDir dir;
  FakeLlm llm;
  std::unique_ptr<store::Store> store;
  runtime::SystemClock clock;
  RecordingChannel channel;
  std::unique_ptr<runtime::Engine> engine;

  explicit LlmHarness(nlohmann::json llm_config) {
    store::Store::Options so;
    so.dir = dir.path() / "data";
    store = store::Store::open(so);
    runtime::EngineOptions options;
    options.workers = 2;
    options.flows = {dir.write("ask.lua", kAskFlow)};
    llm_config["base_url"] = llm.base_url();
    llm_config["api_key"] = "test-key";
    llm_config["model"] = "fake-model";
    options.plugins = {{"llm", llm_config}};
    engine = std::make_unique<runtime::Engine>(options, *store, clock);
    engine->add_channel(channel);
    engine->start();
  }
};

}  // namespace

TEST_CASE("200 conversations each waiting 500 ms on the LLM finish together, not one after another") {
  LlmHarness h({{"max_concurrency", 128}, {"timeout_ms", 5000}});
  h.llm.set_default(LlmStep::reply("Cubre fallecimiento por cualquier causa.", std::chrono::milliseconds(500)));
  std::vector<runtime::InboundEvent> events;
  for (int i = 0; i < 200; ++i) events.push_back(text_event("u" + std::to_string(i), "¿qué cubre?"));
  auto start = std::chrono::steady_clock::now();
  accept_all(*h.engine, std::move(events));
  REQUIRE(h.channel.wait_for(200, std::chrono::seconds(20)));
  auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  WARN("200 LLM turns of 500 ms each took " << elapsed.count() << " ms on 2 workers");
  CHECK(elapsed < std::chrono::seconds(5));  // serialised, they would take 100 s
  CHECK(h.channel.texts(runtime::conversation_key("test", "acct", "u7")) ==
        std::vector<std::string>{"IA: Cubre fallecimiento por cualquier causa."});
}

TEST_CASE("a hanging provider times out: the flow answers without the LLM, or llm_fallback is sent") {
  LlmHarness h({{"timeout_ms", 300}, {"max_retries", 0}});
  h.llm.set_default(LlmStep::hang());
  auto start = std::chrono::steady_clock::now();
  accept_all(*h.engine, {text_event("ana", "¿qué cubre?"), text_event("beto", "sin manejo")});
  REQUIRE(h.channel.wait_for(2, std::chrono::seconds(10)));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  CHECK(h.channel.texts(runtime::conversation_key("test", "acct", "ana")) == std::vector<std::string>{"sin IA (timeout)"});
  CHECK(h.channel.texts(runtime::conversation_key("test", "acct", "beto")) ==
        std::vector<std::string>{"Ahora no puedo responder eso; un asesor te escribirá."});
}
