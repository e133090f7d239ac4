// Loading and validating flow files: every mistake is a FlowError naming file:line.
#include "lua_test_support.hpp"

using namespace charla::lua;
using namespace charla::lua::test;
using Catch::Matchers::Contains;

namespace {

const char* kFull = R"(-- a complete flow
return {
  name = "seguros", version = 3, initial = "INICIO",
  description = "Insurance bot",
  fallback = "Perdón, algo falló.",
  llm_fallback = "No pude pensar.",
  double_text = { debounce_ms = 1500 },
  window_template = { name = "retomar", language = "es" },
  timers = { recordatorio = function(ctx, payload) ctx:say("recordatorio") end },
  states = {
    INICIO = {
      enter = function(ctx) ctx:say("Hola") end,
      message = function(ctx, msg) return "NEEDS_ANALYSIS" end,
    },
    NEEDS_ANALYSIS = {
      description = "learn the needs",
      message = function(ctx, msg)
        if msg.text == "x" then return "INICIO" end
        return ctx:say("Dime más " .. "por favor")
      end,
      timeout = { after = "30m", run = function(ctx) ctx:say("¿Sigues ahí?") end },
      timers = { ping = function(ctx) end },
    },
  },
}
)";

}  // namespace

TEST_CASE("a valid flow loads with its settings", "[lua][loader]") {
  Harness h;
  const FlowInfo& info = h.load("seguros.lua", kFull);
  CHECK(info.name == "seguros");
  CHECK(info.version == 3);
  CHECK(info.initial == "INICIO");
  CHECK(info.states == std::vector<std::string>{"INICIO", "NEEDS_ANALYSIS"});  // file order
  CHECK(info.state_timeout_ms.at("NEEDS_ANALYSIS") == 30 * 60 * 1000);
  CHECK(info.state_timeout_ms.count("INICIO") == 0);
  CHECK(info.double_text_debounce_ms == 1500);
  CHECK(info.fallback == "Perdón, algo falló.");
  CHECK(info.llm_fallback == "No pude pensar.");
  CHECK(info.window_template == json{{"name", "retomar"}, {"language", "es"}});
  CHECK(h.host.flow("seguros") == &info);
  CHECK(h.host.flow_names() == std::vector<std::string>{"seguros"});
  CHECK(h.host.flow("nope") == nullptr);
}

TEST_CASE("version defaults to 1 and reloading a flow replaces it", "[lua][loader]") {
  Harness h;
  const std::string v1 = R"(return { name = "f", initial = "A", states = { A = { enter = function(ctx) ctx:say("v1") end } } })";
  const std::string v2 =
      R"(return { name = "f", version = 2, initial = "A", states = { A = { enter = function(ctx) ctx:say("v2") end } } })";
  CHECK(h.load("f.lua", v1).version == 1);
  CHECK(h.texts(h.run(message_turn("f", "", "hi"))) == std::vector<std::string>{"v1"});
  CHECK(h.load("f.lua", v2).version == 2);
  CHECK(h.host.flow_names().size() == 1);
  CHECK(h.texts(h.run(message_turn("f", "", "hi"))) == std::vector<std::string>{"v2"});
}

TEST_CASE("a misspelled handler names file, line and state", "[lua][loader]") {
  Harness h;
  const std::string error = load_error(h, "x.lua", R"(return {
  name = "x", initial = "NEEDS_ANALYSIS",
  states = {
    NEEDS_ANALYSIS = {
      enter = function(ctx) end,
      mesage = function(ctx, msg)
        return nil
      end,
    },
  },
})");
  CHECK_THAT(error, Contains("x.lua:6: state NEEDS_ANALYSIS: unknown handler 'mesage' "
                             "(expected enter, message, leave, timeout, timers, final)"));
}

TEST_CASE("a misspelled non-function state key is found by its line", "[lua][loader]") {
  Harness h;
  const std::string error = load_error(h, "x.lua", "return {\n name = 'x', initial = 'A',\n states = {\n  A = {\n"
                                                   "   descripton = 'typo',\n  },\n },\n}\n");
  CHECK_THAT(error, Contains("x.lua:5: state A: unknown handler 'descripton'"));
}

TEST_CASE("a returned state literal that is not a state is refused", "[lua][loader]") {
  Harness h;
  const std::string error = load_error(h, "x.lua", R"(return {
  name = "x", initial = "A",
  states = {
    A = {
      message = function(ctx, msg)
        if msg.text == "hola" then return "B" end
        -- return "COMMENTED" is ignored
        ctx:say("no pasa nada: return 'QUOTED'")
        return "COTIZACON"
      end,
    },
    B = {},
  },
})");
  CHECK_THAT(error, Contains("x.lua:9: returns unknown state 'COTIZACON'"));
}

TEST_CASE("goto literals are checked too, and text that cannot be a state is not", "[lua][loader]") {
  Harness h;
  const std::string error = load_error(h, "x.lua", R"(return {
  name = "x", initial = "A",
  states = {
    A = {
      enter = function(ctx) ctx:go("B") end,
      message = function(ctx, msg)
        ctx:go "B"
        ctx["goto"](ctx, "NOPE")
      end,
    },
    B = { enter = function(ctx) local function greet() return "Hola, ¿cómo estás?" end ctx:say(greet()) end },
  },
})");
  CHECK_THAT(error, Contains("x.lua:8: returns unknown state 'NOPE'"));
}

TEST_CASE("missing or unknown initial state names the file", "[lua][loader]") {
  Harness h;
  CHECK_THAT(load_error(h, "m.lua", R"(return { name = "m", states = { A = {} } })"),
             Contains("m.lua") && Contains("missing initial state"));
  CHECK_THAT(load_error(h, "n.lua", "return {\n  name = 'n',\n  initial = 'Z',\n  states = { A = {} } }"),
             Contains("n.lua:3: initial state 'Z' is not one of the states (A)"));
}

TEST_CASE("structural mistakes are FlowErrors", "[lua][loader]") {
  Harness h;
  CHECK_THAT(load_error(h, "a.lua", "return { name = 'a', initial = 'A', states = { A = {} }, stats = {} }"),
             Contains("a.lua:1: unknown top-level key 'stats'"));
  CHECK_THAT(load_error(h, "b.lua", "return { initial = 'A', states = { A = {} } }"), Contains("b.lua") && Contains("name"));
  CHECK_THAT(load_error(h, "c.lua", "return { name = 'c', initial = 'A', states = { A = { enter = 'hola' } } }"),
             Contains("c.lua:1: state A: enter must be a function"));
  CHECK_THAT(load_error(h, "d.lua", "return { name = 'd', initial = 'A', states = { A = { timeout = { after = '5 min', run = function() end } } } }"),
             Contains("d.lua:1:") && Contains("timeout.after must be a duration"));
  CHECK_THAT(load_error(h, "e.lua", "return 42"), Contains("e.lua: a flow file must return a table"));
  CHECK_THAT(load_error(h, "f.lua", "return { name = 'f', initial = 'A', states = { A = {} }, version = 1.5 }"),
             Contains("version must be an integer"));
}

TEST_CASE("syntax and runtime errors while loading carry file:line", "[lua][loader]") {
  Harness h;
  CHECK_THAT(load_error(h, "s.lua", "return {\n  name = 'x',\n  initial = = 'A',\n}"), Contains("s.lua:3:"));
  CHECK_THAT(load_error(h, "r.lua", "local x = nil\nreturn x.y"), Contains("r.lua:2:"));
  CHECK_THAT(load_error(h, "l.lua", "while true do end"), Contains("instruction budget exceeded"));
  CHECK_THAT(load_error(h, "bin.lua", std::string("\x1bLua\x54\x00", 6)), Contains("precompiled"));
}

TEST_CASE("require loads modules from the flow's directory only", "[lua][loader]") {
  Harness h;
  h.dir.write("lib/util.lua", "local M = {} function M.greet(n) return 'Hola ' .. n end return M");
  h.dir.write("counter.lua", "loads = (loads or 0) + 1 return { n = loads }");
  h.load("r.lua", R"(
local util = require("lib.util")
local c1 = require("counter")
local c2 = require("counter")
return { name = "r", initial = "A", states = { A = {
  message = function(ctx, msg)
    ctx:say(util.greet(ctx.name))
    ctx:say(tostring(c1 == c2))
    for _, bad in ipairs({ "../outside", "/etc/passwd", "lib/util", "..lib", "missing" }) do
      local ok, err = pcall(require, bad)
      ctx:say(tostring(ok) .. " " .. tostring(err))
    end
  end } } }
)");
  const TurnResult r = h.run(message_turn("r", "A", "hi"));
  REQUIRE(r.ok);
  const auto t = h.texts(r);
  REQUIRE(t.size() == 7);
  CHECK(t[0] == "Hola Ana");
  CHECK(t[1] == "true");  // cached
  for (int i = 2; i < 6; ++i) CHECK_THAT(t[static_cast<std::size_t>(i)], Contains("false") && Contains("module names"));
  CHECK_THAT(t[6], Contains("false") && Contains("module not found"));
}
