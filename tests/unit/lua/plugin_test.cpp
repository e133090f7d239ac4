// Plugin calls: the turn yields, the worker serves other turns, the completion
// resumes it; errors come back as nil, err or raise; late completions are dropped.
#include "lua_test_support.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

using namespace charla;
using namespace charla::lua;
using namespace charla::lua::test;
using Catch::Matchers::Contains;

namespace {

// Answers each call after `delay` on the io_context, with `reply_for(call)`; with
// `hold`, keeps the done callbacks instead (a plugin that never answers on its own).
class FakePlugin : public Plugin {
 public:
  explicit FakePlugin(boost::asio::io_context& io) : io_(io) {}
  std::vector<std::string> methods() const override { return {"llm", "http"}; }
  void call(PluginCall call, PluginDone done) override {
    calls.push_back(call);
    if (hold) {
      held.push_back(std::move(done));
      return;
    }
    auto timer = std::make_shared<boost::asio::steady_timer>(io_, delay);
    PluginReply reply = reply_for(calls.back());
    timer->async_wait([timer, done = std::move(done), reply](const boost::system::error_code&) { done(reply); });
  }

  std::function<PluginReply(const PluginCall&)> reply_for = [](const PluginCall& c) {
    return PluginReply::ok("respuesta a " + c.args.value("prompt", std::string("?")));
  };
  std::chrono::milliseconds delay{5};
  bool hold = false;
  std::vector<PluginCall> calls;
  std::vector<PluginDone> held;

 private:
  boost::asio::io_context& io_;
};

// `kept` is file-level state: the one way (besides upvalues) a flow can carry a
// value from one turn to another, which the coroutine test below relies on.
const char* kFlow = R"(local kept = {}
return { name = "p", initial = "A", states = { A = { message = function(ctx, msg)
  if msg.text == "ask" then
    local answer = ctx:llm("¿precio?")
    ctx:say(answer)
    local again = ctx:http{ url = "https://x", n = 2 }
    return ctx:say("second " .. tostring(again))
  elseif msg.text == "error" then
    local value, err = ctx:llm{ prompt = "x" }
    return ctx:say(tostring(value) .. " " .. err.code .. " " .. err.message)
  elseif msg.text == "llm-nil" then
    ctx:say(ctx:llm("x"))
  elseif msg.text == "argerr" then
    ctx:llm{ prompt = 1 }
  elseif msg.text == "in-coroutine" then
    local co = coroutine.wrap(function() return ctx:llm("x") end)
    co()
  elseif msg.text == "in-pcall" then
    local ok, v = pcall(ctx.llm, ctx, "pc")
    return ctx:say(tostring(ok) .. " " .. v)
  elseif msg.text == "in-sort" then
    table.sort({ 3, 1, 2 }, function(a, b) ctx:llm("x") return a < b end)
  elseif msg.text == "grab" then
    kept.grabbed = coroutine.running()
    return ctx:say(ctx:llm("grabbed"))
  elseif msg.text == "hijack" then
    local ok1, e1 = pcall(coroutine.resume, kept.grabbed, "evil")
    local ok2, e2 = pcall(coroutine.close, kept.grabbed)
    ctx:say(tostring(ok1) .. " " .. tostring(e1))
    return ctx:say(tostring(ok2) .. " " .. tostring(e2))
  elseif msg.text == "loop-after" then
    ctx:llm("x")
    while true do end
  else
    ctx:say("quick")
  end
end } } })";

struct PluginHarness : Harness {
  explicit PluginHarness(HostOptions o = small_options()) : Harness(o), plugin(io) {
    host.register_plugin(plugin);
    load("p.lua", kFlow);
  }
  FakePlugin plugin;
};

}  // namespace

TEST_CASE("a plugin call yields; other turns run meanwhile; then it resumes", "[lua][plugin]") {
  PluginHarness h;
  std::optional<TurnResult> first;
  TurnInput ask = message_turn("p", "A", "ask");
  ask.history = std::make_shared<const json>(json::array({{{"dir", "in"}, {"text", "hola"}}}));
  const auto* shared_history = ask.history.get();
  h.host.run_turn(std::move(ask), [&](TurnResult r) { first = std::move(r); });
  CHECK_FALSE(first.has_value());
  CHECK(h.host.suspended_turns() == 1);
  REQUIRE(h.plugin.calls.size() == 1);
  const PluginCall& call = h.plugin.calls[0];
  CHECK(call.method == "llm");
  CHECK(call.args == json{{"prompt", "¿precio?"}});
  CHECK(call.flow == "p");
  CHECK(call.conversation == "whatsapp:123:5215550001");
  REQUIRE(call.history);
  CHECK(*call.history == json::array({{{"dir", "in"}, {"text", "hola"}}}));
  CHECK(call.history.get() == shared_history);  // the turn's array, not a copy
  CHECK(call.deadline > std::chrono::steady_clock::now());

  // Another conversation's turn on the same host completes synchronously meanwhile.
  TurnInput other = message_turn("p", "A", "hello");
  other.conversation = "other";
  std::optional<TurnResult> second;
  h.host.run_turn(std::move(other), [&](TurnResult r) { second = std::move(r); });
  REQUIRE(second.has_value());
  CHECK(h.texts(*second) == std::vector<std::string>{"quick"});
  CHECK_FALSE(first.has_value());

  h.io.run();
  REQUIRE(first.has_value());
  INFO(first->error);
  REQUIRE(first->ok);
  CHECK(h.texts(*first) == std::vector<std::string>{"respuesta a ¿precio?", "second respuesta a ?"});
  REQUIRE(h.plugin.calls.size() == 2);
  CHECK(h.plugin.calls[1].method == "http");
  CHECK(h.plugin.calls[1].args == json{{"url", "https://x"}, {"n", 2}});
  CHECK(h.host.suspended_turns() == 0);
}

TEST_CASE("plugin errors return nil, err; argument errors raise at the call site", "[lua][plugin]") {
  PluginHarness h;
  h.plugin.reply_for = [](const PluginCall& c) {
    if (!c.args["prompt"].is_string()) return PluginReply::bad_argument("prompt must be a string");
    return PluginReply::fail("timeout", "LLM did not answer");
  };
  TurnResult r = h.run(message_turn("p", "A", "error"));
  REQUIRE(r.ok);
  CHECK(h.texts(r) == std::vector<std::string>{"nil timeout LLM did not answer"});

  // A flow that uses the nil answer fails; the runtime then prefers llm_fallback.
  r = h.run(message_turn("p", "A", "llm-nil"));
  CHECK_FALSE(r.ok);
  CHECK(r.llm_failed);

  r = h.run(message_turn("p", "A", "argerr"));
  CHECK_FALSE(r.ok);
  CHECK(r.error_kind == "lua_error");
  CHECK_THAT(r.error, Contains("p.lua:14: prompt must be a string"));
}

TEST_CASE("plugin methods are refused where the turn cannot yield", "[lua][plugin]") {
  PluginHarness h;
  for (const char* where : {"in-coroutine", "in-sort"}) {
    INFO(where);
    const TurnResult r = h.run(message_turn("p", "A", where));
    CHECK_FALSE(r.ok);
    CHECK_THAT(r.error, Contains("ctx:llm cannot be called here"));
    CHECK(h.plugin.calls.empty());
  }
  // pcall is yieldable: the call goes through.
  const TurnResult r = h.run(message_turn("p", "A", "in-pcall"));
  REQUIRE(r.ok);
  CHECK(h.texts(r) == std::vector<std::string>{"true respuesta a pc"});
}

TEST_CASE("the turn's wall-time budget ends a turn stuck in a plugin call", "[lua][plugin]") {
  HostOptions o = small_options();
  o.turn_time_budget = std::chrono::milliseconds(30);
  PluginHarness h(o);
  h.plugin.hold = true;
  const TurnResult r = h.run(message_turn("p", "A", "ask"));
  CHECK_FALSE(r.ok);
  CHECK(r.error_kind == "time");
  CHECK_THAT(r.error, Contains("ctx:llm"));
  CHECK(r.llm_failed);
  CHECK(r.outbound.empty());
  CHECK(h.host.suspended_turns() == 0);

  // The late completion is dropped: nothing resumes, nothing crashes, the host works.
  REQUIRE(h.plugin.held.size() == 1);
  h.plugin.held[0](PluginReply::ok("too late"));
  h.io.restart();
  h.io.run();
  h.plugin.hold = false;
  const TurnResult next = h.run(message_turn("p", "A", "hello"));
  CHECK(next.ok);
}

TEST_CASE("the instruction budget keeps counting across a yield", "[lua][plugin]") {
  HostOptions o = small_options();
  o.instruction_budget = 50'000;
  PluginHarness h(o);
  const TurnResult r = h.run(message_turn("p", "A", "loop-after"));
  CHECK_FALSE(r.ok);
  CHECK(r.error_kind == "budget");
}

TEST_CASE("cancel_all ends suspended turns as shutting down", "[lua][plugin]") {
  PluginHarness h;
  h.plugin.hold = true;
  std::vector<TurnResult> results;
  for (int i = 0; i < 3; ++i) {
    TurnInput in = message_turn("p", "A", "ask");
    in.conversation = "c" + std::to_string(i);
    h.host.run_turn(std::move(in), [&](TurnResult r) { results.push_back(std::move(r)); });
  }
  CHECK(h.host.suspended_turns() == 3);
  h.host.cancel_all();
  REQUIRE(results.size() == 3);
  for (const auto& r : results) {
    CHECK(r.error_kind == "time");
    CHECK(r.error == "shutting down");
  }
  CHECK(h.host.suspended_turns() == 0);
  for (auto& done : h.plugin.held) done(PluginReply::ok("late"));
  h.io.run();
}

TEST_CASE("a suspended turn is small", "[lua][plugin]") {
  PluginHarness h;
  h.plugin.hold = true;
  const std::size_t before = h.host.memory_in_use();
  constexpr int kTurns = 200;
  int finished = 0;
  for (int i = 0; i < kTurns; ++i) {
    TurnInput in = message_turn("p", "A", "ask");
    in.conversation = "c" + std::to_string(i);
    h.host.run_turn(std::move(in), [&](TurnResult) { ++finished; });
  }
  CHECK(h.host.suspended_turns() == kTurns);
  const std::size_t per_turn = (h.host.memory_in_use() - before) / kTurns;
  INFO("Lua bytes per suspended turn: " << per_turn);
  CHECK(per_turn < 8 * 1024);
  h.host.cancel_all();
  CHECK(finished == kTurns);
}

TEST_CASE("plugin methods cannot shadow ctx methods", "[lua][plugin]") {
  struct SayPlugin : Plugin {
    std::vector<std::string> methods() const override { return {"say"}; }
    void call(PluginCall, PluginDone) override {}
  } say;
  Harness h;
  CHECK_THROWS_AS(h.host.register_plugin(say), std::invalid_argument);
}

TEST_CASE("a flow cannot resume or close another turn's coroutine", "[lua][plugin]") {
  PluginHarness h;
  std::optional<TurnResult> grabbed;
  h.host.run_turn(message_turn("p", "A", "grab"), [&](TurnResult r) { grabbed = std::move(r); });
  REQUIRE(h.host.suspended_turns() == 1);
  TurnInput hijack = message_turn("p", "A", "hijack");
  hijack.conversation = "attacker";
  const TurnResult r = h.run(std::move(hijack));
  REQUIRE(r.ok);
  const auto t = h.texts(r);
  REQUIRE(t.size() == 2);
  CHECK_THAT(t[0], Contains("false") && Contains("cannot be resumed or closed"));
  CHECK_THAT(t[1], Contains("false") && Contains("cannot be resumed or closed"));
  h.io.run();
  REQUIRE(grabbed.has_value());
  REQUIRE(grabbed->ok);
  CHECK(h.texts(*grabbed) == std::vector<std::string>{"respuesta a grabbed"});
}
