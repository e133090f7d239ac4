// What the loader and `charla check` read from a flow's source: only a handler's own
// return is a transition, local helpers are followed, `final = true` marks an end.
#include "lua/flow_graph.hpp"
#include "lua_test_support.hpp"

using namespace charla::lua;
using namespace charla::lua::test;
using Catch::Matchers::Contains;

namespace {

bool has_transition(const FlowInfo& info, const std::string& from, const std::string& to, const std::string& handler,
                    int line) {
  return std::any_of(info.transitions.begin(), info.transitions.end(), [&](const Transition& t) {
    return t.from == from && t.to == to && t.handler == handler && t.line == line;
  });
}

std::vector<std::string> warning_texts(const FlowInfo& info) {
  std::vector<std::string> out;
  for (const auto& w : flow_warnings(info)) out.push_back(std::to_string(w.line) + ": " + w.message);
  return out;
}

// A clinic-like flow: two handlers reach RECEPCION only through a local helper.
const char* kHelperFlow = R"(local function a_recepcion(ctx)
  ctx:say("Te paso con recepción")
  return "RECEPCION"
end
local function formato(n) return "N" .. n end
return {
  name = "clinica", initial = "INICIO",
  states = {
    INICIO = {
      message = function(ctx, msg)
        if msg.text == "humano" then return a_recepcion(ctx) end
        ctx:say(formato(1))
        return "HORARIO"
      end,
    },
    HORARIO = { message = function(ctx, msg) return a_recepcion(ctx) end },
    RECEPCION = { final = true, message = function(ctx, msg) ctx:say("Ya viene alguien") end },
  },
}
)";

}  // namespace

TEST_CASE("a string returned by a function nested in a handler is not a transition", "[lua][check]") {
  Harness h;
  const FlowInfo& info = h.load("saludo.lua", R"(return {
  name = "s", initial = "A",
  states = {
    A = {
      enter = function(ctx)
        local saludo = function() return "Hola" end
        local function despedida()
          if true then return "Chao" end
        end
        for i = 1, 2 do ctx:say(saludo() .. i) end
        ctx:say(despedida())
      end,
      message = function(ctx, msg) return "B" end,
    },
    B = { final = true, enter = function(ctx) ctx:say("fin") end },
  },
})");
  CHECK(info.transitions.size() == 1);
  CHECK(has_transition(info, "A", "B", "message", 13));
}

TEST_CASE("a handler's own return after a nested function is still checked", "[lua][check]") {
  Harness h;
  const std::string error = load_error(h, "x.lua", R"(return {
  name = "x", initial = "A",
  states = {
    A = {
      message = function(ctx, msg)
        local f = function() return "Hola" end
        repeat ctx:say(f()) until true
        return "COTIZACON"
      end,
    },
  },
})");
  CHECK_THAT(error, Contains("x.lua:8: returns unknown state 'COTIZACON'"));
}

TEST_CASE("keywords inside long strings do not end the handler early", "[lua][check]") {
  Harness h;
  const std::string error = load_error(h, "x.lua", R"(return {
  name = "x", initial = "A",
  states = {
    A = {
      message = function(ctx, msg)
        ctx:say([[Hasta el end
        del mes, if you do]])
        return "COTIZACON"
      end,
    },
  },
})");
  CHECK_THAT(error, Contains("x.lua:8: returns unknown state 'COTIZACON'"));
}

TEST_CASE("returns through local helper functions are transitions of the calling handler", "[lua][check]") {
  Harness h;
  const FlowInfo& info = h.load("clinica.lua", kHelperFlow);
  CHECK(has_transition(info, "INICIO", "RECEPCION", "message", 3));
  CHECK(has_transition(info, "HORARIO", "RECEPCION", "message", 3));
  CHECK(has_transition(info, "INICIO", "HORARIO", "message", 13));
  CHECK(unreachable_states(info).empty());
  CHECK(flow_warnings(info).empty());
}

TEST_CASE("a typo inside a helper a handler returns through is an error at the helper's line", "[lua][check]") {
  Harness h;
  std::string text = kHelperFlow;
  text.replace(text.find("return \"RECEPCION\""), 18, "return \"RECEPCIOM\"");
  const std::string error = load_error(h, "clinica.lua", text);
  CHECK_THAT(error, Contains("clinica.lua:3: returns unknown state 'RECEPCIOM'"));
  CHECK_THAT(error, Contains("through a_recepcion()"));
}

TEST_CASE("helpers are followed through other helpers, globals and ctx:go, but not into discarded returns",
          "[lua][check]") {
  Harness h;
  const FlowInfo& info = h.load("cadena.lua", R"(local function salir(ctx) ctx:go("FIN") end
local function etiqueta() return "NO_ES_ESTADO" end
local function siguiente(ctx) return salir(ctx) end
function a_b(ctx) return "B" end
return {
  name = "c", initial = "A",
  states = {
    A = { message = function(ctx, msg)
      ctx:say(etiqueta())
      if msg.text == "b" then return a_b(ctx) end
      return siguiente(ctx)
    end },
    B = { enter = function(ctx) siguiente(ctx) end },
    FIN = { final = true },
  },
})");
  CHECK(has_transition(info, "A", "FIN", "message", 1));
  CHECK(has_transition(info, "A", "B", "message", 4));
  CHECK(has_transition(info, "B", "FIN", "enter", 1));
}

TEST_CASE("final = true is accepted; anything but a boolean is refused with its line", "[lua][check]") {
  Harness h;
  const FlowInfo& info = h.load("f.lua", R"(return { name = "f", initial = "A", states = {
    A = { message = function(ctx, msg) return "FIN" end },
    FIN = { final = true, enter = function(ctx) ctx:say("gracias") end },
  } })");
  CHECK(info.final_states == std::vector<std::string>{"FIN"});
  const std::string error = load_error(h, "g.lua", R"(return { name = "g", initial = "A", states = {
    A = {
      final = "si",
    },
  } })");
  CHECK_THAT(error, Contains("g.lua:3: state A: final must be true or false"));
}

TEST_CASE("check warns about dead ends not marked final and final states with a way out", "[lua][check]") {
  Harness h;
  const FlowInfo& info = h.load("w.lua", R"(return { name = "w", initial = "A", states = {
    A = { message = function(ctx, msg)
      if msg.text == "x" then return "CALLEJON" end
      return "FIN"
    end },
    CALLEJON = { enter = function(ctx) ctx:say("y ahora?") end },
    FIN = { final = true, message = function(ctx, msg) return "A" end },
  } })");
  const auto warnings = warning_texts(info);
  REQUIRE(warnings.size() == 2);
  CHECK_THAT(warnings[0], Contains("6: state CALLEJON has no way out"));
  CHECK_THAT(warnings[0], Contains("final = true"));
  CHECK_THAT(warnings[1], Contains("7: state FIN is final = true but its message leads to A"));
}

TEST_CASE("the graph labels timeouts with their delay and draws reminders as loops", "[lua][check][graph]") {
  Harness h;
  const FlowInfo& info = h.load("t.lua", R"(return { name = "t", initial = "A", states = {
    A = { message = function(ctx, msg) return "B" end,
          timeout = { after = "30m", run = function(ctx) ctx:say("¿Sigues ahí?") end } },
    B = { final = true, timeout = { after = "2h", run = function(ctx) return "A" end } },
  } })");
  const std::string text = flow_graph(info, GraphFormat::mermaid);
  CHECK_THAT(text, Contains("s_A --> s_A : timeout 30m\n"));
  CHECK_THAT(text, Contains("s_B --> s_A : timeout 2h\n"));
}
