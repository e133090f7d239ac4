// Operator actions on a running engine: timers held while a human has the
// conversation and re-armed on resume, set state with enter, a reset that never races
// a queued turn, and the all-or-nothing hot reload of the flows.
#include "runtime/conversation.hpp"
#include "runtime_fixture.hpp"
#include "support/fake_llm.hpp"

#include <catch2/catch.hpp>

#include <future>

using namespace charla;
using namespace charla::testing;
using nlohmann::json;

namespace {

struct Harness : EngineRig {
  // Durable commits (fsync) leave time between a write's submit and its commit: the
  // window in which a turn must not read the record an admin write is replacing.
  explicit Harness(const std::string& flow_text)
      : EngineRig(flow_text, {.store = [](store::Store::Options& o) { o.durable = true; },
                              .engine = [](runtime::EngineOptions& o) { o.history_limit = 1000; }}) {
    engine->start();
  }
  runtime::Conversation conversation(const std::string& user) {
    auto c = stored(user);
    REQUIRE(c);
    return *c;
  }
  void say(const std::string& user, const std::string& text) {
    auto n = channel.count();
    REQUIRE(accept_all(*engine, {text_event(user, text)}).error.empty());
    REQUIRE(channel.wait_for(n + 1, std::chrono::seconds(10)));
  }
  // Runs an operator action and waits for its answer.
  unsigned act(const std::function<void(runtime::Engine::ConversationDone)>& action, std::string* error = nullptr) {
    std::promise<std::pair<unsigned, std::string>> answer;
    action([&](unsigned status, const std::string& e, const runtime::Conversation*) { answer.set_value({status, e}); });
    auto f = answer.get_future();
    REQUIRE(f.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    auto [status, e] = f.get();
    if (error) *error = e;
    return status;
  }
  runtime::ReloadResult reload() {
    std::promise<runtime::ReloadResult> done;
    engine->reload_flows([&](const runtime::ReloadResult& r) { done.set_value(r); });
    auto f = done.get_future();
    REQUIRE(f.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    return f.get();
  }
};

const char* kMesa = R"(
return {
  name = "mesa", initial = "A",
  states = {
    A = {
      message = function(ctx, msg)
        if msg.text == "humano" then
          ctx:after("10m", "recordar", { n = 7 })
          ctx:say("te paso")
          ctx:handoff("pidió humano")
          return
        end
        ctx:say("A: " .. msg.text)
      end,
    },
    B = { enter = function(ctx) ctx:say("entré a B") end },
  },
  timers = { recordar = function(ctx, p) ctx:say("recordatorio " .. p.n) end },
}
)";

}  // namespace

TEST_CASE("a timer due while paused is held, and fires right after resume", "[runtime][handoff]") {
  Harness h(kMesa);
  h.say("u1", "humano");
  CHECK(h.conversation("u1").paused);
  CHECK(h.conversation("u1").paused_ms == h.clock.now_ms());
  h.clock.advance(std::chrono::minutes(11));
  h.engine->tick_timers();
  REQUIRE(eventually([&] { return h.conversation("u1").held_timers.count("recordar") == 1; }));
  CHECK(h.conversation("u1").timers.empty());
  h.engine->tick_timers();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(h.texts("u1") == std::vector<std::string>{"te paso"});

  REQUIRE(h.act([&](auto done) { h.engine->resume_conversation(Harness::key("u1"), std::nullopt, done); }) == 200);
  auto c = h.conversation("u1");
  CHECK_FALSE(c.paused);
  CHECK(c.held_timers.empty());
  CHECK(c.timers.count("recordar") == 1);
  h.engine->tick_timers();
  REQUIRE(h.channel.wait_for(2, std::chrono::seconds(10)));
  CHECK(h.texts("u1") == std::vector<std::string>{"te paso", "recordatorio 7"});  // its payload kept
}

TEST_CASE("resume and set state: enter runs, unknown states name the flow's states", "[runtime][handoff]") {
  Harness h(kMesa);
  h.say("u2", "hola");
  std::string error;
  CHECK(h.act([&](auto done) { h.engine->set_conversation_state(Harness::key("u2"), "Z", true, done); }, &error) == 400);
  CHECK(error == "flow 'mesa' has no state 'Z'; its states are: A, B");
  CHECK(h.act([&](auto done) { h.engine->set_conversation_state(Harness::key("u2"), "B", false, done); }) == 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(h.texts("u2").size() == 1);  // no enter without "enter": true
  CHECK(h.act([&](auto done) { h.engine->set_conversation_state(Harness::key("u2"), "B", true, done); }) == 200);
  REQUIRE(h.channel.wait_for(2, std::chrono::seconds(10)));
  CHECK(h.texts("u2").back() == "entré a B");

  CHECK(h.act([&](auto done) { h.engine->pause_conversation(Harness::key("u2"), "revisar", done); }) == 200);
  CHECK(h.act([&](auto done) { h.engine->set_conversation_state(Harness::key("u2"), "B", true, done); }) == 409);
  CHECK(h.act([&](auto done) { h.engine->resume_conversation(Harness::key("u2"), "B", done); }) == 200);
  REQUIRE(h.channel.wait_for(3, std::chrono::seconds(10)));
  CHECK(h.texts("u2").back() == "entré a B");
  CHECK(h.act([&](auto done) { h.engine->pause_conversation("test:acct:nadie", std::nullopt, done); }) == 404);
}

TEST_CASE("a reset with turns queued never lets the old record come back", "[runtime][handoff]") {
  Harness h(kMesa);
  for (int round = 0; round < 5; ++round) {
    const std::string user = "r" + std::to_string(round);
    h.say(user, "primero");
    std::vector<runtime::InboundEvent> burst;
    for (int i = 0; i < 30; ++i) burst.push_back(text_event(user, "m" + std::to_string(i)));
    const auto before = h.channel.count();
    REQUIRE(accept_all(*h.engine, std::move(burst)).error.empty());
    std::promise<unsigned> reset;
    h.engine->reset_conversation(Harness::key(user), [&](unsigned status, const std::string&) { reset.set_value(status); });
    REQUIRE(reset.get_future().get() == 200);
    REQUIRE(h.channel.wait_for(before + 30, std::chrono::seconds(20)));
    auto c = h.conversation(user);
    // Every turn of the fresh record is one of its own inbound messages.
    json history = json::array();
    {
      auto txn = h.store->read();
      txn.scan_prefix(store::Db::history, runtime::history_prefix(c.key), [&](std::string_view, std::string_view v) {
        history.push_back(json::parse(v));
        return true;
      });
    }
    std::size_t inbound = 0;
    for (auto& e : history) inbound += e["dir"] == "in";
    CHECK(c.turns == inbound);
    CHECK(c.history_next - c.history_first == history.size());
  }
}

TEST_CASE("hot reload swaps every worker's flows; a failing file changes nothing", "[runtime][reload]") {
  Harness h(R"(return { name = "eco", version = 1, initial = "A",
                        states = { A = { message = function(ctx, m) ctx:say("v1:" .. m.text) end } } })");
  h.say("a", "uno");
  CHECK(h.engine->flow_generation().number == 1);
  h.dir.write("flow.lua", R"(return { name = "eco", version = 2, initial = "A",
                        states = { A = { message = function(ctx, m) ctx:say("v2:" .. m.text) end } } })");
  auto r = h.reload();
  REQUIRE(r.ok);
  CHECK(r.generation == 2);
  CHECK(h.engine->flow("eco")->version == 2);
  for (const char* user : {"a", "b", "c", "d"}) h.say(user, "dos");  // on both workers
  for (const char* user : {"a", "b", "c", "d"}) CHECK(h.texts(user).back() == "v2:dos");

  h.dir.write("flow.lua", "return { name = 'eco', version = 3, initial = 'A',\n states = { A = { message = 1 } } }");
  r = h.reload();
  CHECK_FALSE(r.ok);
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].find("flow.lua:2") != std::string::npos);
  CHECK(r.generation == 2);
  h.say("a", "tres");
  CHECK(h.texts("a").back() == "v2:tres");
  CHECK(h.engine->flows_status()["flows"][0]["version"] == 2);
}

TEST_CASE("a turn waiting on ctx:llm during a reload finishes on the version it started with", "[runtime][reload]") {
  charla::test::FakeLlm llm;
  llm.set_default(charla::test::LlmStep::reply("listo", std::chrono::milliseconds(700)));
  TempDir dir;
  auto flow = dir.write("eco.lua", R"(return { name = "eco", version = 1, initial = "A", states = { A = {
      message = function(ctx, m) local a = ctx:llm{ prompt = m.text } ctx:say("v1:" .. tostring(a)) end } } })");
  store::Store::Options so;
  so.dir = dir.path() / "data";
  auto store = store::Store::open(so);
  runtime::SystemClock clock;
  RecordingChannel channel;
  runtime::EngineOptions options;
  options.workers = 1;  // the waiting turn and the new one share one Lua state
  options.flows = {flow};
  options.plugins = {{"llm", {{"base_url", llm.base_url()}, {"api_key", "k"}, {"model", "m"}, {"timeout_ms", 5000}}}};
  runtime::Engine engine(options, *store, clock);
  engine.add_channel(channel);
  engine.start();

  accept_all(engine, {text_event("a", "uno")});
  REQUIRE(eventually([&] { return engine.stats().suspended_turns == 1; }));
  dir.write("eco.lua", R"(return { name = "eco", version = 2, initial = "A", states = { A = {
      message = function(ctx, m) ctx:say("v2:" .. m.text) end } } })");
  std::promise<runtime::ReloadResult> done;
  engine.reload_flows([&](const runtime::ReloadResult& r) { done.set_value(r); });
  REQUIRE(done.get_future().get().ok);
  accept_all(engine, {text_event("b", "dos")});
  REQUIRE(channel.wait_for(2, std::chrono::seconds(10)));
  CHECK(channel.texts(runtime::conversation_key("test", "acct", "b")) == std::vector<std::string>{"v2:dos"});
  CHECK(channel.texts(runtime::conversation_key("test", "acct", "a")) == std::vector<std::string>{"v1:listo"});
  engine.stop();
}
