// `charla test` itself: expectations fail when they should, the fake clock alone fires
// timers, scripted replies are consumed in order and an unscripted call fails with its
// arguments. Each case writes a small flow and test file and runs them as the CLI does.
#include "flowtest/lua_api.hpp"
#include "flowtest/runner.hpp"
#include "support/temp_dir.hpp"
#include "whatsapp/protocol/flowtest_profile.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

namespace {

// A flow with a reminder timer, an LLM step, an HTTP step and buttons.
const char* kFlow = R"lua(
return {
  name = "demo",
  initial = "START",
  states = {
    START = {
      enter = function(ctx) ctx:say("Hola, ¿qué necesitas?") end,
      message = function(ctx, msg)
        if msg.text == "recordar" then
          ctx:after("10m", "ping")
          return ctx:say("Te recuerdo en 10 minutos")
        elseif msg.text == "pregunta" then
          local a = ctx:llm{ prompt = "primera pregunta" }
          local b = ctx:llm{ prompt = "segunda pregunta" }
          return ctx:say(tostring(a) .. " / " .. tostring(b))
        elseif msg.text == "agenda" then
          local res = ctx:http{ url = "http://agenda.local/slots" }
          return ctx:say("slots: " .. tostring(res.status) .. " " .. tostring(res.json and res.json.slots[1]))
        elseif msg.text == "menu" then
          return ctx:buttons("Elige", { { id = "a", title = "Opción A" }, { id = "b", title = "Opción B" } })
        elseif msg.text == "largo" then
          return ctx:buttons("Elige", { "Hablar con un asesor ya" })
        elseif msg.button then
          ctx.data.picked = msg.button.id
          return "DONE"
        end
        ctx:say("eco: " .. tostring(msg.text))
      end,
    },
    DONE = { enter = function(ctx) ctx:say("Listo") end, message = function(ctx) ctx:handoff("fin") end },
  },
  timers = { ping = function(ctx) ctx:say("¡Ping!") end },
}
)lua";

struct Run {
  int status;
  std::string output;
  std::filesystem::path dir;
};

Run run(charla::test::TempDir& dir, const std::string& test_lua, std::filesystem::path junit = {}) {
  dir.write("demo.lua", kFlow);
  dir.write("demo_test.lua", test_lua);
  charla::flowtest::RunOptions options;
  options.paths = {dir.path()};
  options.junit = junit;
  options.test_timeout = std::chrono::seconds(60);
  std::ostringstream out;
  auto profile = charla::whatsapp::flowtest_profile();
  int status = charla::flowtest::run_tests(options, profile, out);
  return {status, out.str(), dir.path()};
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("a passing test prints ok and the closing line, exit 0", "[flowtest]") {
  charla::test::TempDir dir;
  auto r = run(dir, R"lua(
test("greets", function()
  local t = charla.test("demo.lua")
  t:user("hola")
  t:expect_reply{ contains = "qué necesitas" }
  t:expect_reply{ equals = "eco: hola" }
  t:expect_state("START")
end)
)lua");
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(has(r.output, "ok   greets\n"));
  CHECK(has(r.output, "1 passed, 0 failed\n"));
}

TEST_CASE("a failing expectation fails with file:line, expected vs actual and the conversation", "[flowtest]") {
  charla::test::TempDir dir;
  auto r = run(dir, R"lua(
test("wrong state", function()
  local t = charla.test("demo.lua")
  t:user("hola")
  t:expect_state("DONE")
end)
test("wrong reply", function()
  local t = charla.test("demo.lua")
  t:user("hola")
  t:expect_reply{ contains = "adiós" }
end)
)lua");
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(has(r.output, "FAIL wrong state\n"));
  CHECK(has(r.output, "demo_test.lua:5: expected state \"DONE\", but the conversation is in \"START\""));
  CHECK(has(r.output, "demo_test.lua:10: expected a reply { contains = \"adiós\" }"));
  CHECK(has(r.output, "eco: hola"));
  CHECK(has(r.output, "conversation so far:"));
  CHECK(has(r.output, "user: hola"));
  CHECK(has(r.output, "0 passed, 2 failed\n"));
}

TEST_CASE("a timer fires only when the fake clock passes it", "[flowtest]") {
  charla::test::TempDir dir;
  auto r = run(dir, R"lua(
test("reminder", function()
  local t = charla.test("demo.lua")
  t:user("recordar")
  t:expect_reply{ contains = "10 minutos" }
  t:expect_timer("ping", "10m")
  t:advance("599s")
  t:expect_no_reply()
  t:advance("1s")
  t:expect_reply{ equals = "¡Ping!" }
  t:expect_no_timer("ping")
end)
)lua");
  INFO(r.output);
  CHECK(r.status == 0);
}

TEST_CASE("scripted replies are consumed in order, and match filters on the prompt and url", "[flowtest]") {
  charla::test::TempDir dir;
  auto r = run(dir, R"lua(
test("llm in order", function()
  local t = charla.test("demo.lua")
  t:llm_reply{ reply = "uno" }
  t:llm_reply{ reply = "dos" }
  t:user("pregunta")
  t:expect_reply{ contains = "uno / dos" }
end)
test("match picks the reply", function()
  local t = charla.test("demo.lua")
  t:llm_reply{ match = "segunda", reply = "B" }
  t:llm_reply{ match = "primera", reply = "A" }
  t:http_reply{ url = "agenda.local/slots", json = { slots = { "2026-03-03T10:00" } } }
  t:user("pregunta")
  t:expect_reply{ contains = "A / B" }
  t:user("agenda")
  t:expect_reply{ equals = "slots: 200 2026-03-03T10:00" }
end)
test("failures are scripted too", function()
  local t = charla.test("demo.lua")
  t:llm_fail("timeout")
  t:llm_reply{ reply = "dos" }
  t:user("pregunta")
  t:expect_reply{ contains = "nil / dos" }
  t:http_fail(503)
  t:user("agenda")
  t:expect_reply{ contains = "slots: 503" }
end)
)lua");
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(has(r.output, "3 passed, 0 failed"));
}

TEST_CASE("a plugin call with no scripted reply fails the test and shows its arguments", "[flowtest]") {
  charla::test::TempDir dir;
  auto r = run(dir, R"lua(
test("unscripted", function()
  local t = charla.test("demo.lua")
  t:llm_reply{ reply = "uno" }
  t:user("pregunta")
end)
)lua");
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(has(r.output, "demo_test.lua:5: ctx:llm was called with no scripted reply"));
  CHECK(has(r.output, "segunda pregunta"));
}

TEST_CASE("tap answers the last buttons by title or id, and lists them when none matches", "[flowtest]") {
  charla::test::TempDir dir;
  auto r = run(dir, R"lua(
test("tap by title", function()
  local t = charla.test("demo.lua")
  t:user("menu")
  t:tap("Opción B")
  t:expect_data("picked", "b")
  t:expect_state("DONE")
  t:user("gracias")
  t:expect_handoff("fin")
end)
test("tap by a wrong title", function()
  local t = charla.test("demo.lua")
  t:user("menu")
  t:tap("Opción C")
end)
)lua");
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(has(r.output, "ok   tap by title"));
  CHECK(has(r.output, "demo_test.lua:14: t:tap(\"Opción C\"): no button or row with that title or id"));
  CHECK(has(r.output, "\"Opción A\" (id \"a\"), \"Opción B\" (id \"b\")"));
}

TEST_CASE("a reply WhatsApp would refuse fails the test with the reason", "[flowtest]") {
  charla::test::TempDir dir;
  auto r = run(dir, R"lua(
test("long button", function()
  local t = charla.test("demo.lua")
  t:user("largo")
end)
)lua");
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(has(r.output, "the flow failed a turn"));
  CHECK(has(r.output, "has 23 characters; WhatsApp allows at most 20"));
}

TEST_CASE("--junit writes one testcase per test with its failure", "[flowtest]") {
  charla::test::TempDir dir;
  auto junit = dir.path() / "out" / "junit.xml";
  std::filesystem::create_directories(junit.parent_path());
  auto r = run(dir, R"lua(
test("passes", function() charla.test("demo.lua"):user("hola") end)
test("fails <here>", function() charla.test("demo.lua"):expect_state("X") end)
)lua", junit);
  INFO(r.output);
  CHECK(r.status == 1);
  std::ifstream in(junit);
  std::stringstream xml;
  xml << in.rdbuf();
  CHECK(has(xml.str(), "<testsuites name=\"charla test\" tests=\"2\" failures=\"1\""));
  CHECK(has(xml.str(), "<testcase classname="));
  CHECK(has(xml.str(), "name=\"fails &lt;here&gt;\""));
  CHECK(has(xml.str(), "<failure message="));
}

TEST_CASE("a test file that does not load is a load error (exit 2); no files is a usage error", "[flowtest]") {
  charla::test::TempDir dir;
  auto r = run(dir, "test('x', function() end\n");
  INFO(r.output);
  CHECK(r.status == 2);
  CHECK(has(r.output, "ERROR "));

  charla::test::TempDir empty;
  charla::flowtest::RunOptions options;
  options.paths = {empty.path()};
  std::ostringstream out;
  CHECK(charla::flowtest::run_tests(options, charla::whatsapp::flowtest_profile(), out) == 2);
  CHECK(has(out.str(), "no *_test.lua files found"));
}

TEST_CASE("test times parse with their offset", "[flowtest]") {
  using charla::flowtest::parse_iso_time;
  CHECK(parse_iso_time("1970-01-01T00:00:00Z") == 0);
  CHECK(parse_iso_time("2026-03-02T09:00:00-03:00") == parse_iso_time("2026-03-02T12:00:00Z"));
  CHECK(parse_iso_time("2026-03-02T12:00Z") == 1772452800000);
  CHECK(!parse_iso_time("mañana"));
  CHECK(!parse_iso_time("2026-02-30T10:00:00Z"));
}

TEST_CASE("every inbound type reaches the flow as the WhatsApp channel builds msg", "[flowtest]") {
  charla::test::TempDir dir;
  dir.write("echo.lua", R"lua(
return {
  name = "echo", initial = "S",
  states = { S = { message = function(ctx, msg)
    local extra = msg.location and (msg.location.latitude .. "," .. msg.location.longitude)
      or msg.reaction and msg.reaction.emoji or msg.media and msg.media.id or msg.list and msg.list.id or ""
    ctx:say(msg.type .. "|" .. tostring(msg.text) .. "|" .. extra)
  end } },
}
)lua");
  auto r = run(dir, R"lua(
test("types", function()
  local t = charla.test("echo.lua")
  t:user("hola")
  t:expect_reply{ equals = "text|hola|" }
  t:send{ type = "location", location = { latitude = -33.4, longitude = -70.6 } }
  t:expect_reply{ equals = "location|nil|-33.4,-70.6" }
  t:send{ type = "image", image = { id = "m1", caption = "mi póliza" } }
  t:expect_reply{ equals = "image|mi póliza|m1" }
  t:send{ type = "document", document = { id = "d1", filename = "a.pdf", caption = "contrato" } }
  t:expect_reply{ equals = "document|contrato|d1" }
  t:send{ type = "reaction", reaction = { message_id = "wamid.x", emoji = "👍" } }
  t:expect_reply{ equals = "reaction|nil|👍" }
  t:send{ type = "sticker", sticker = { id = "s1" } }
  t:expect_reply{ equals = "sticker|nil|s1" }
  t:send{ type = "unsupported" }
  t:expect_reply{ equals = "unsupported|nil|" }
  t:send{ type = "interactive", interactive = { type = "list_reply", list_reply = { id = "r2", title = "Fila 2" } } }
  t:expect_reply{ equals = "interactive|Fila 2|r2" }
end)
)lua");
  INFO(r.output);
  CHECK(r.status == 0);
}

TEST_CASE("double texting inside the debounce window is one turn with the texts merged", "[flowtest]") {
  charla::test::TempDir dir;
  dir.write("merge.lua", R"lua(
return {
  name = "merge", initial = "S", double_text = { debounce_ms = 1500 },
  states = { S = { message = function(ctx, msg) ctx:say("got: " .. msg.text) end } },
}
)lua");
  auto r = run(dir, R"lua(
test("merged", function()
  local t = charla.test("merge.lua")
  t:user("hola", "¿tienen horario?")
  t:expect_reply{ equals = "got: hola\n¿tienen horario?" }
  t:expect_no_reply()
  t:user("gracias")
  t:expect_reply{ equals = "got: gracias" }
end)
)lua");
  INFO(r.output);
  CHECK(r.status == 0);
}

TEST_CASE("a flow that does not load fails the test with the flow's file:line", "[flowtest]") {
  charla::test::TempDir dir;
  dir.write("broken.lua", "return { name = 'b', initial = 'S', states = { S = { mesage = function() end } } }\n");
  auto r = run(dir, R"lua(
test("broken flow", function()
  local t = charla.test("broken.lua")
end)
)lua");
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(has(r.output, "demo_test.lua:3: cannot start flow broken.lua:"));
  CHECK(has(r.output, "mesage"));
}

TEST_CASE("reset starts the flow afresh; a scripted reply never used is noted under a passing test", "[flowtest]") {
  charla::test::TempDir dir;
  auto r = run(dir, R"lua(
test("reset", function()
  local t = charla.test("demo.lua")
  t:user("menu")
  t:tap("a")
  t:expect_state("DONE")
  t:reset()
  t:expect_state(nil)
  t:user("hola")
  t:expect_reply{ contains = "qué necesitas" }
  t:expect_state("START")
end)
test("unused script", function()
  local t = charla.test("demo.lua")
  t:llm_reply{ match = "cobertura", reply = "x" }
  t:user("hola")
end)
)lua");
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(has(r.output, "ok   unused script\n     note: a scripted reply was never used: ctx:llm matching \"cobertura\"\n"));
}

TEST_CASE("expect_emit matches the events a turn emitted by name and payload fields", "[flowtest]") {
  charla::test::TempDir dir;
  dir.write("lead.lua", R"lua(
return {
  name = "lead", initial = "S",
  states = { S = { message = function(ctx, msg)
    ctx:emit("lead.qualified", { zona = msg.text, presupuesto = { max = 900 } })
    ctx:say("ok")
  end } },
}
)lua");
  auto r = run(dir, R"lua(
test("emitted", function()
  local t = charla.test("lead.lua")
  t:user("Providencia")
  t:expect_emit("lead.qualified", { zona = "Providencia", presupuesto = { max = 900 } })
end)
test("wrong payload", function()
  local t = charla.test("lead.lua")
  t:user("Ñuñoa")
  t:expect_emit("lead.qualified", { zona = "Providencia" })
end)
)lua");
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(has(r.output, "ok   emitted\n"));
  CHECK(has(r.output, "demo_test.lua:10: expected an event \"lead.qualified\" with { zona = \"Providencia\" }"));
  CHECK(has(r.output, "lead.qualified { presupuesto = { max = 900 }, zona = \"Ñuñoa\" }"));
}

TEST_CASE("settings given to charla.test are the flow's ctx.settings; without them it reads an empty table",
          "[flowtest]") {
  charla::test::TempDir dir;
  dir.write("greet.lua", R"lua(
return {
  name = "greet", initial = "A",
  states = { A = { message = function(ctx) ctx:say("saludo: " .. tostring(ctx.settings.saludo)) end } },
}
)lua");
  auto r = run(dir, R"lua(
test("with settings", function()
  local t = charla.test("greet.lua", { settings = { saludo = "Buenas" } })
  t:user("hola")
  t:expect_reply{ equals = "saludo: Buenas" }
end)
test("without settings", function()
  local t = charla.test("greet.lua")
  t:user("hola")
  t:expect_reply{ equals = "saludo: nil" }
end)
test("settings that are not a table", function()
  charla.test("greet.lua", { settings = "Buenas" })
end)
)lua");
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(has(r.output, "ok   with settings\n"));
  CHECK(has(r.output, "ok   without settings\n"));
  CHECK(has(r.output, "FAIL settings that are not a table\n"));
  CHECK(has(r.output, "settings must be a table of the flow's settings"));
  CHECK(has(r.output, "2 passed, 1 failed\n"));
}
