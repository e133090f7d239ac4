// ctx.settings: the flow's block from the config's flow_settings, read-only at every
// depth, empty for a flow without one.
#include "lua_test_support.hpp"

using namespace charla::lua;
using namespace charla::lua::test;
using Catch::Matchers::Contains;

namespace {

HostOptions with_settings() {
  HostOptions o = small_options();
  o.flow_settings["clinic"] = json{{"reminder_hours", 24}, {"name", "AURA"}, {"slots", {"10:00", "11:00"}},
                                   {"agenda", {{"url", "http://agenda.local"}}}};
  return o;
}

TurnResult run(Harness& h, const std::string& flow, const std::string& body) {
  h.load(flow + ".lua", "return { name = '" + flow + "', initial = 'A', states = { A = { message = function(ctx, msg)\n" +
                            body + "\nend } } }\n");
  return h.run(message_turn(flow, "A", "hola"));
}

}  // namespace

TEST_CASE("ctx.settings reads the flow's settings block", "[lua][ctx][settings]") {
  Harness h(with_settings());
  const TurnResult r = run(h, "clinic",
                           "local s = ctx.settings\n"
                           "local keys = {}\n for k in pairs(s) do keys[#keys + 1] = k end\n table.sort(keys)\n"
                           "ctx:say(s.name .. ' ' .. s.reminder_hours .. ' ' .. #s.slots .. ' ' .. s.slots[2] .. ' ' ..\n"
                           "  s.agenda.url .. ' ' .. table.concat(keys, ','))\n"
                           "for i, v in ipairs(s.slots) do ctx:say(i .. '=' .. v) end");
  INFO(r.error);
  REQUIRE(r.ok);
  CHECK(h.texts(r) == std::vector<std::string>{"AURA 24 2 11:00 http://agenda.local agenda,name,reminder_hours,slots",
                                               "1=10:00", "2=11:00"});
  const TurnResult other = run(h, "insurance", "ctx:say(tostring(next(ctx.settings)) .. ' ' .. tostring(ctx.settings.x))");
  REQUIRE(other.ok);
  CHECK(h.texts(other) == std::vector<std::string>{"nil nil"});
}

TEST_CASE("ctx.settings is read-only at every depth", "[lua][ctx][settings]") {
  Harness h(with_settings());
  for (const char* body : {"ctx.settings.reminder_hours = 1", "ctx.settings.agenda.url = 'x'",
                           "table.insert(ctx.settings.slots, 'x')", "rawset(ctx.settings, 'a', 1)",
                           "ctx.settings = {}"}) {
    INFO(body);
    const TurnResult r = run(h, "clinic", body);
    CHECK_FALSE(r.ok);
    CHECK_THAT(r.error, Contains("clinic.lua:2:") && Contains("read-only"));
  }
  // Nothing leaked into the next conversation.
  const TurnResult r = run(h, "clinic", "ctx:say(ctx.settings.reminder_hours .. ' ' .. #ctx.settings.slots)");
  REQUIRE(r.ok);
  CHECK(h.texts(r) == std::vector<std::string>{"24 2"});
}
