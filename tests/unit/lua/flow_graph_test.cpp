// The state diagram and reachability drawn from a flow's literal transitions.
#include "lua/flow_graph.hpp"
#include "lua_test_support.hpp"

using namespace charla::lua;
using namespace charla::lua::test;
using Catch::Matchers::Contains;

namespace {

const char* kFlow = R"(return {
  name = "citas", initial = "INICIO",
  timers = { reinicio = function(ctx) return "INICIO" end },
  states = {
    INICIO = {
      message = function(ctx, msg)
        if msg.text == "1" then return "AGENDAR" end
        ctx:go("AYUDA")
      end,
    },
    AGENDAR = {
      message = function(ctx, msg) return "CONFIRMADO" end,
      timeout = { after = "10m", run = function(ctx) return "INICIO" end },
    },
    AYUDA = { enter = function(ctx) return "INICIO" end },
    CONFIRMADO = { enter = function(ctx) ctx:say("listo") end },
    HUERFANO = { enter = function(ctx) return "CONFIRMADO" end },
    ["POR-NOMBRE"] = { enter = function(ctx) ctx:say("solo por nombre calculado") end },
  },
}
)";

}  // namespace

TEST_CASE("the loader records every literal transition with its handler and line", "[lua][graph]") {
  Harness h;
  const FlowInfo& info = h.load("citas.lua", kFlow);
  auto has = [&](const std::string& from, const std::string& to, const std::string& handler, int line) {
    return std::any_of(info.transitions.begin(), info.transitions.end(), [&](const Transition& t) {
      return t.from == from && t.to == to && t.handler == handler && t.line == line;
    });
  };
  CHECK(has("", "INICIO", "timers.reinicio", 3));
  CHECK(has("INICIO", "AGENDAR", "message", 7));
  CHECK(has("INICIO", "AYUDA", "message", 8));
  CHECK(has("AGENDAR", "CONFIRMADO", "message", 12));
  CHECK(has("AGENDAR", "INICIO", "timeout.run", 13));
  CHECK(has("HUERFANO", "CONFIRMADO", "enter", 17));
}

TEST_CASE("states no literal transition reaches are reported in file order", "[lua][graph]") {
  Harness h;
  const FlowInfo& info = h.load("citas.lua", kFlow);
  // HUERFANO leads somewhere but nothing leads to it; CONFIRMADO is reached anyway.
  CHECK(unreachable_states(info) == std::vector<std::string>{"HUERFANO", "POR-NOMBRE"});
}

TEST_CASE("a flow whose every state is reached has no unreachable states", "[lua][graph]") {
  Harness h;
  const FlowInfo& info = h.load("ab.lua", R"(return { name = "ab", initial = "A", states = {
    A = { message = function(ctx, msg) return "B" end },
    B = { message = function(ctx, msg) return "A" end } } })");
  CHECK(unreachable_states(info).empty());
}

TEST_CASE("mermaid output has the start, one labelled edge per pair, and safe identifiers", "[lua][graph]") {
  Harness h;
  const std::string text = flow_graph(h.load("citas.lua", kFlow), GraphFormat::mermaid);
  CHECK_THAT(text, Contains("stateDiagram-v2\n"));
  CHECK_THAT(text, Contains("[*] --> s_INICIO\n"));
  CHECK_THAT(text, Contains("s_INICIO --> s_AGENDAR : message\n"));
  CHECK_THAT(text, Contains("s_AGENDAR --> s_INICIO : timeout 10m\n"));
  CHECK_THAT(text, Contains("any_state --> s_INICIO : timers.reinicio\n"));
  CHECK_THAT(text, Contains("state \"POR-NOMBRE\" as s_POR_NOMBRE\n"));
}

TEST_CASE("dot output quotes names and merges the handlers of one edge", "[lua][graph]") {
  Harness h;
  const FlowInfo& info = h.load("ab.lua", R"(return { name = "ab", initial = "A", states = {
    A = { message = function(ctx, msg) return "B" end, timeout = { after = 5, run = function(ctx) return "B" end } },
    B = { } } })");
  const std::string text = flow_graph(info, GraphFormat::dot);
  CHECK_THAT(text, Contains("digraph \"ab\" {"));
  CHECK_THAT(text, Contains("\"__start\" -> \"A\";"));
  CHECK_THAT(text, Contains("\"A\" -> \"B\" [label=\"message, timeout 5s\"];"));
}
