// ctx:emit: events are effects of a successful turn, in call order, with their
// payload as JSON; bad arguments raise at the call site; a failed turn emits nothing.
#include "lua_test_support.hpp"

using namespace charla::lua;
using namespace charla::lua::test;
using Catch::Matchers::Contains;

namespace {

TurnResult run_body(Harness& h, const std::string& body) {
  h.load("api.lua", "return { name = 'api', initial = 'A', states = { A = { message = function(ctx, msg)\n" + body +
                        "\nend } } }\n");
  return h.run(message_turn("api", "A", "hola"));
}

}  // namespace

TEST_CASE("ctx:emit records named events with JSON payloads in call order", "[lua][emit]") {
  Harness h;
  const TurnResult r = run_body(h,
                                "ctx:emit('lead.qualified', { score = 90, tags = {'auto', 'vip'}, who = { name = ctx.name } })\n"
                                "ctx:emit('visit.booked')\nctx:emit('x', {})");
  INFO(r.error);
  REQUIRE(r.ok);
  REQUIRE(r.emitted.size() == 3);
  CHECK(r.emitted[0].name == "lead.qualified");
  CHECK(r.emitted[0].payload == json{{"score", 90}, {"tags", {"auto", "vip"}}, {"who", {{"name", "Ana"}}}});
  CHECK(r.emitted[1].name == "visit.booked");
  CHECK(r.emitted[1].payload == json::object());
  CHECK(r.emitted[2].payload == json::object());
}

TEST_CASE("ctx:emit argument errors raise with file:line", "[lua][emit]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"ctx:emit()", "ctx:emit: event name must be a string"},
      {"ctx:emit('')", "ctx:emit: event name must not be empty"},
      {"ctx:emit('lead qualified')", "may only hold letters, digits"},
      {"ctx:emit(string.rep('a', 101))", "longer than 100 bytes"},
      {"ctx:emit('state.changed')", "'state.changed' is an event charla emits itself"},
      {"ctx:emit('a', 'text')", "ctx:emit: payload must be a table (or nil), got string"},
      {"ctx:emit('a', { f = function() end })", "ctx:emit payload"},
      {"ctx:emit('a', { big = string.rep('x', 70000) })", "ctx:emit payload"},
      {"for i = 1, 101 do ctx:emit('a') end", "more than 100 events in one turn"},
  };
  for (const auto& [body, expected] : cases) {
    Harness h;
    const TurnResult r = run_body(h, body);
    INFO(body);
    CHECK_FALSE(r.ok);
    CHECK(r.emitted.empty());
    CHECK_THAT(r.error, Contains("api.lua:2:") && Contains(expected));
  }
}

TEST_CASE("a turn that fails after ctx:emit emits nothing", "[lua][emit]") {
  Harness h;
  const TurnResult r = run_body(h, "ctx:emit('lead.qualified', { a = 1 })\nerror('boom')");
  CHECK_FALSE(r.ok);
  CHECK(r.emitted.empty());
}
