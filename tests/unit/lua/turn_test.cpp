// Turn semantics: entering the initial state, transitions (leave then enter), loops,
// errors with file:line, data round-trips, timers and the state timeout.
#include "lua_test_support.hpp"

using namespace charla::lua;
using namespace charla::lua::test;
using Catch::Matchers::Contains;

namespace {

const char* kFlow = R"(return {
  name = "f", initial = "INICIO",
  timers = { global = function(ctx, payload) ctx:say("global " .. tostring(payload and payload.n)) end },
  states = {
    INICIO = {
      enter = function(ctx) ctx:say("enter INICIO") end,
      message = function(ctx, msg)
        if msg.text == "boom" then
          ctx:say("never sent")
          error("boom here")
        end
        if msg.text == "dynamic" then return "NO" .. "PE" end
        if msg.text == "number" then return 42 end
        if msg.text == "goto" then ctx:go("PREGUNTA") return end
        if msg.text == "goto-bracket" then ctx["goto"](ctx, "PREGUNTA") return end
        if msg.text == "goto-bad" then ctx:go("NOW" .. "HERE") end
        if msg.text == "stay" then return ctx:say("staying") end
        return "PREGUNTA"
      end,
      leave = function(ctx) ctx:say("leave INICIO") end,
    },
    PREGUNTA = {
      enter = function(ctx) ctx:say("enter PREGUNTA") end,
      message = function(ctx, msg) if msg.text == "chain" then return "PASO" end end,
      leave = function(ctx) ctx:say("leave PREGUNTA") end,
      timeout = { after = "30m", run = function(ctx) ctx:say("¿sigues ahí?") return "INICIO" end },
      timers = { local_timer = function(ctx, payload) ctx:say("local " .. payload.n) end },
    },
    PASO = { enter = function(ctx) ctx:say("enter PASO") return "FIN" end },
    FIN = { enter = function(ctx) ctx:say("enter FIN") end },
  },
})";

const std::int64_t kNow = 1'700'000'000'000;

}  // namespace

TEST_CASE("a new conversation enters the initial state, then handles the message", "[lua][turn]") {
  Harness h;
  h.load("f.lua", kFlow);
  const TurnResult r = h.run(message_turn("f", "", "hola"));
  REQUIRE(r.ok);
  CHECK(h.texts(r) == std::vector<std::string>{"enter INICIO", "leave INICIO", "enter PREGUNTA"});
  CHECK(r.transitions == std::vector<std::string>{"INICIO", "PREGUNTA"});
  CHECK(r.state == "PREGUNTA");
  CHECK(r.outbound[0] == json{{"type", "text"}, {"text", "enter INICIO"}});
}

TEST_CASE("transitions run leave, then enter, and chain through enter", "[lua][turn]") {
  Harness h;
  h.load("f.lua", kFlow);
  const TurnResult r = h.run(message_turn("f", "PREGUNTA", "chain"));
  REQUIRE(r.ok);
  CHECK(h.texts(r) == std::vector<std::string>{"leave PREGUNTA", "enter PASO", "enter FIN"});
  CHECK(r.transitions == std::vector<std::string>{"PASO", "FIN"});
  CHECK(r.state == "FIN");

  const TurnResult stay = h.run(message_turn("f", "INICIO", "stay"));
  CHECK(stay.state == "INICIO");
  CHECK(stay.transitions.empty());
  CHECK(h.texts(stay) == std::vector<std::string>{"staying"});
}

TEST_CASE("ctx:goto records a transition taken when the handler returns", "[lua][turn]") {
  Harness h;
  h.load("f.lua", kFlow);
  for (const char* how : {"goto", "goto-bracket"}) {
    const TurnResult r = h.run(message_turn("f", "INICIO", how));
    REQUIRE(r.ok);
    CHECK(r.state == "PREGUNTA");
  }
  const TurnResult bad = h.run(message_turn("f", "INICIO", "goto-bad"));
  CHECK_FALSE(bad.ok);
  CHECK_THAT(bad.error, Contains("f.lua:16:") && Contains("unknown state 'NOWHERE'"));
}

TEST_CASE("an error in a handler fails the turn with file:line and no effects", "[lua][turn]") {
  Harness h;
  h.load("f.lua", kFlow);
  const TurnResult r = h.run(message_turn("f", "INICIO", "boom"));
  CHECK_FALSE(r.ok);
  CHECK(r.error_kind == "lua_error");
  CHECK_THAT(r.error, Contains("f.lua:10: boom here"));
  CHECK(r.outbound.empty());
  CHECK(r.timers.empty());
  CHECK(r.state == "INICIO");

  const TurnResult dyn = h.run(message_turn("f", "INICIO", "dynamic"));
  CHECK_FALSE(dyn.ok);
  CHECK_THAT(dyn.error, Contains("f.lua:7:") && Contains("returned unknown state 'NOPE'"));

  const TurnResult num = h.run(message_turn("f", "INICIO", "number"));
  CHECK_FALSE(num.ok);
  CHECK_THAT(num.error, Contains("returned a number"));
}

TEST_CASE("a transition loop is capped", "[lua][turn]") {
  HostOptions o = small_options();
  o.max_transitions = 5;
  Harness h(o);
  h.load("loop.lua", R"(return { name = "loop", initial = "A", states = {
    A = { enter = function(ctx) return "B" end },
    B = { enter = function(ctx) return "A" end } } })");
  const TurnResult r = h.run(message_turn("loop", "", "hi"));
  CHECK_FALSE(r.ok);
  CHECK(r.error_kind == "transitions");
  CHECK_THAT(r.error, Contains("more than 5 transitions") && Contains("A -> B -> A -> B"));
}

TEST_CASE("a state that no longer exists moves the conversation to initial", "[lua][turn]") {
  Harness h;
  h.load("f.lua", kFlow);
  const TurnResult r = h.run(message_turn("f", "GONE", "stay"));
  REQUIRE(r.ok);
  CHECK(r.transitions == std::vector<std::string>{"INICIO"});
  CHECK(h.texts(r) == std::vector<std::string>{"enter INICIO", "staying"});
}

TEST_CASE("the migrate hook chooses where a vanished state goes", "[lua][turn]") {
  Harness h;
  h.load("m.lua", R"(return { name = "m", initial = "A",
    migrate = function(ctx, old) ctx:say("from " .. old) return "B" end,
    states = { A = {}, B = { enter = function(ctx) ctx:say("in B") end } } })");
  const TurnResult r = h.run(message_turn("m", "OLD", "x"));
  REQUIRE(r.ok);
  CHECK(r.state == "B");
  CHECK(h.texts(r) == std::vector<std::string>{"from OLD", "in B"});
}

TEST_CASE("ctx.data round-trips and must be storable", "[lua][turn][data]") {
  Harness h;
  h.load("d.lua", R"(return { name = "d", initial = "A", states = { A = { message = function(ctx, msg)
    if msg.text == "count" then
      ctx.data.count = (ctx.data.count or 0) + 1
      table.insert(ctx.data.items, "c")
      ctx.data.nested.deep.flag = not ctx.data.nested.deep.flag
      ctx.data.ratio = 0.5
      ctx.data.msg = msg
    elseif msg.text == "replace" then
      ctx.data = { fresh = true, [10] = "ten" }
    elseif msg.text == "function" then
      ctx.data.foo = { bar = function() end }
    elseif msg.text == "cycle" then
      local t = {} t.self = t ctx.data.loop = t
    elseif msg.text == "bad-key" then
      ctx.data.k = { [true] = 1 }
    elseif msg.text == "assign" then
      ctx.data = 5
    end
  end } } })");
  const json data = {{"count", 1}, {"items", {"a", "b"}}, {"nested", {{"deep", {{"flag", false}}}}}};
  const TurnResult r = h.run(message_turn("d", "A", "count", data));
  REQUIRE(r.ok);
  CHECK(r.data["count"] == 2);
  CHECK(r.data["items"] == json{"a", "b", "c"});
  CHECK(r.data["nested"]["deep"]["flag"] == true);
  CHECK(r.data["ratio"] == 0.5);
  CHECK(r.data["msg"]["text"] == "count");
  CHECK(r.data["msg"]["raw"] == json{{"x", 1}});

  const TurnResult replaced = h.run(message_turn("d", "A", "replace", data));
  REQUIRE(replaced.ok);
  CHECK(replaced.data == json{{"fresh", true}, {"10", "ten"}});

  const TurnResult fn = h.run(message_turn("d", "A", "function", data));
  CHECK_FALSE(fn.ok);
  CHECK(fn.error_kind == "data");
  CHECK_THAT(fn.error, Contains("ctx.data.foo.bar: functions cannot be stored"));
  CHECK(fn.outbound.empty());

  const TurnResult cycle = h.run(message_turn("d", "A", "cycle", data));
  CHECK(cycle.error_kind == "data");
  CHECK_THAT(cycle.error, Contains("ctx.data.loop.self: cyclic tables"));

  const TurnResult key = h.run(message_turn("d", "A", "bad-key", data));
  CHECK(key.error_kind == "data");
  CHECK_THAT(key.error, Contains("ctx.data.k: boolean keys"));

  const TurnResult assign = h.run(message_turn("d", "A", "assign", data));
  CHECK(assign.error_kind == "lua_error");
  CHECK_THAT(assign.error, Contains("d.lua:17:") && Contains("ctx.data must be a table"));
}

TEST_CASE("ctx:after and ctx:cancel produce timer operations", "[lua][turn][timers]") {
  Harness h;
  h.load("t.lua", R"(return { name = "t", initial = "A", states = { A = { message = function(ctx, msg)
    if msg.text == "bad" then return ctx:after("5 parsecs", "x") end
    if msg.text == "reserved" then return ctx:after(1, "__timeout") end
    ctx:after("90s", "recordatorio", { n = 1 })
    ctx:after(2.5, "corto")
    ctx:after("1d", "manana")
    ctx:cancel("viejo")
  end } } })");
  const TurnResult r = h.run(message_turn("t", "A", "x"));
  REQUIRE(r.ok);
  REQUIRE(r.timers.size() == 5);
  CHECK(r.timers[0].kind == TimerOp::Kind::set);
  CHECK(r.timers[0].name == "recordatorio");
  CHECK(r.timers[0].due_ms == kNow + 90'000);
  CHECK(r.timers[0].payload == json{{"n", 1}});
  CHECK(r.timers[1].due_ms == kNow + 2'500);
  CHECK(r.timers[2].due_ms == kNow + 86'400'000);
  CHECK(r.timers[3].kind == TimerOp::Kind::cancel);
  CHECK(r.timers[3].name == "viejo");
  CHECK(r.timers[4].kind == TimerOp::Kind::cancel);  // state A has no timeout
  CHECK(r.timers[4].name == "__timeout");

  const TurnResult bad = h.run(message_turn("t", "A", "bad"));
  CHECK_FALSE(bad.ok);
  CHECK_THAT(bad.error, Contains("t.lua:2:") && Contains("bad duration"));
  CHECK_THAT(h.run(message_turn("t", "A", "reserved")).error, Contains("reserved"));
}

TEST_CASE("the state timeout is armed after messages and state changes only", "[lua][turn][timers]") {
  Harness h;
  h.load("f.lua", kFlow);
  // A message in a state with a timeout re-arms it.
  TurnResult r = h.run(message_turn("f", "PREGUNTA", "hm"));
  REQUIRE(r.ok);
  REQUIRE(r.timers.size() == 1);
  CHECK(r.timers[0].kind == TimerOp::Kind::set);
  CHECK(r.timers[0].name == "__timeout");
  CHECK(r.timers[0].due_ms == kNow + 30 * 60'000);

  // Moving into a state with a timeout arms it; leaving it for one without cancels it.
  r = h.run(message_turn("f", "INICIO", "go"));
  REQUIRE(r.timers.size() == 1);
  CHECK(r.timers[0].kind == TimerOp::Kind::set);
  r = h.run(message_turn("f", "PREGUNTA", "chain"));
  REQUIRE(r.timers.size() == 1);
  CHECK(r.timers[0].kind == TimerOp::Kind::cancel);

  // The timeout fires: run() moves to INICIO, which has no timeout -> cancel.
  r = h.run(timer_turn("f", "PREGUNTA", "__timeout"));
  REQUIRE(r.ok);
  CHECK(h.texts(r) == std::vector<std::string>{"¿sigues ahí?", "leave PREGUNTA", "enter INICIO"});
  REQUIRE(r.timers.size() == 1);
  CHECK(r.timers[0].kind == TimerOp::Kind::cancel);

  // A timer event without a state change leaves the timeout alone.
  r = h.run(timer_turn("f", "PREGUNTA", "local_timer", {{"n", 7}}));
  REQUIRE(r.ok);
  CHECK(h.texts(r) == std::vector<std::string>{"local 7"});
  CHECK(r.timers.empty());
  r = h.run(timer_turn("f", "PREGUNTA", "global", {{"n", 3}}));
  CHECK(h.texts(r) == std::vector<std::string>{"global 3"});
  r = h.run(timer_turn("f", "PREGUNTA", "unknown"));
  CHECK(r.ok);
  CHECK(r.outbound.empty());
  r = h.run(timer_turn("f", "INICIO", "__timeout"));  // state without timeout: ignored
  CHECK(r.ok);
  CHECK(r.outbound.empty());
}

TEST_CASE("ctx and msg die with their turn", "[lua][turn]") {
  Harness h;
  h.load("k.lua", R"(local saved_ctx, saved_msg
  return { name = "k", initial = "A", states = { A = { message = function(ctx, msg)
    if msg.text == "keep" then saved_ctx = ctx saved_msg = msg return end
    local ok1, e1 = pcall(function() return saved_ctx.state end)
    local ok2, e2 = pcall(function() saved_ctx:say("zombie") end)
    local ok3, e3 = pcall(function() return saved_msg.text end)
    ctx:say(tostring(ok1) .. " " .. e1)
    ctx:say(tostring(ok2) .. " " .. e2)
    ctx:say(tostring(ok3) .. " " .. e3)
    local ok4, e4 = pcall(function() ctx.phone = "x" end)
    ctx:say(tostring(ok4) .. " " .. e4)
    ctx:say(ctx.phone .. " " .. ctx.name .. " " .. ctx.state .. " " .. ctx.channel .. " " .. ctx.flow .. " " .. ctx.conversation)
  end } } })");
  REQUIRE(h.run(message_turn("k", "A", "keep")).ok);
  const TurnResult r = h.run(message_turn("k", "A", "use"));
  REQUIRE(r.ok);
  const auto t = h.texts(r);
  REQUIRE(t.size() == 5);
  CHECK_THAT(t[0], Contains("false") && Contains("ctx used after its turn ended"));
  CHECK_THAT(t[1], Contains("false") && Contains("ctx used after its turn ended"));
  CHECK_THAT(t[2], Contains("false") && Contains("msg used after its turn ended"));
  CHECK_THAT(t[3], Contains("false") && Contains("ctx.phone is read-only"));
  CHECK(t[4] == "5215550001 Ana A whatsapp k whatsapp:123:5215550001");
}

TEST_CASE("unknown flows and malformed events fail cleanly", "[lua][turn]") {
  Harness h;
  h.load("f.lua", kFlow);
  TurnResult r = h.run(message_turn("nope", "", "x"));
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.error, Contains("unknown flow 'nope'"));
  TurnInput in = message_turn("f", "", "x");
  in.event = {{"kind", "weird"}};
  r = h.run(std::move(in));
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.error, Contains("unknown event kind"));
}
