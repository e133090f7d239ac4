// The ctx API's outbound messages, history and transcript, and the errors each
// method raises at the call site.
#include "lua_test_support.hpp"

using namespace charla::lua;
using namespace charla::lua::test;
using Catch::Matchers::Contains;

namespace {

// Runs `body` as the message handler of a one-state flow.
TurnResult run_body(Harness& h, const std::string& body, TurnInput in = message_turn("api", "A", "hola")) {
  h.load("api.lua", "return { name = 'api', initial = 'A', states = { A = { message = function(ctx, msg)\n" + body +
                        "\nend } } }\n");
  return h.run(std::move(in));
}

json single(Harness& h, const std::string& body) {
  const TurnResult r = run_body(h, body);
  INFO(r.error);
  REQUIRE(r.ok);
  REQUIRE(r.outbound.size() == 1);
  return r.outbound[0];
}

}  // namespace

TEST_CASE("outbound messages have channel-neutral shapes", "[lua][ctx]") {
  Harness h;
  CHECK(single(h, "ctx:say('Hola')") == json{{"type", "text"}, {"text", "Hola"}});
  CHECK(single(h, "ctx:buttons('¿Seguimos?', {'Sí', 'No'})") ==
        json{{"type", "buttons"},
             {"text", "¿Seguimos?"},
             {"buttons", {{{"id", "Sí"}, {"title", "Sí"}}, {{"id", "No"}, {"title", "No"}}}}});
  CHECK(single(h, "ctx:buttons('x', { {id='yes', title='Sí'}, 'No' })")["buttons"] ==
        json{{{"id", "yes"}, {"title", "Sí"}}, {{"id", "No"}, {"title", "No"}}});
  CHECK(single(h, "ctx:list('Elige', 'Ver planes', {'Básico', {id='p', title='Premium', description='Todo'}})") ==
        json{{"type", "list"},
             {"text", "Elige"},
             {"button", "Ver planes"},
             {"sections",
              {{{"title", ""},
                {"rows",
                 {{{"id", "Básico"}, {"title", "Básico"}},
                  {{"id", "p"}, {"title", "Premium"}, {"description", "Todo"}}}}}}}});
  CHECK(single(h, "ctx:list('t', 'b', { {title='Autos', rows={'A1'}}, {title='Vida', rows={{id='v', title='V1'}}} })")
            ["sections"] == json{{{"title", "Autos"}, {"rows", {{{"id", "A1"}, {"title", "A1"}}}}},
                                 {{"title", "Vida"}, {"rows", {{{"id", "v"}, {"title", "V1"}}}}}});
  CHECK(single(h, "ctx:template('bienvenida', 'es_MX', {'Ana', 3})") ==
        json{{"type", "template"}, {"name", "bienvenida"}, {"language", "es_MX"}, {"parameters", {"Ana", "3"}}});
  CHECK(single(h, "ctx:template('b', 'es', { components = { {type='body'} } })")["components"] ==
        json{{{"type", "body"}}});
  CHECK(single(h, "ctx:template('b', 'es')")["parameters"] == json::array());
  CHECK(single(h, "ctx:media('image', { link = 'https://x/y.png', caption = 'Mira' })") ==
        json{{"type", "image"}, {"link", "https://x/y.png"}, {"caption", "Mira"}});
  CHECK(single(h, "ctx:media('document', { id = '123', filename = 'poliza.pdf' })") ==
        json{{"type", "document"}, {"id", "123"}, {"filename", "poliza.pdf"}});
  CHECK(single(h, "ctx:react('👍')") == json{{"type", "reaction"}, {"message_id", "wamid.1"}, {"emoji", "👍"}});
  CHECK(single(h, "ctx:react('👍', 'wamid.other')")["message_id"] == "wamid.other");
  CHECK(single(h, "ctx:mark_read()") == json{{"type", "mark_read"}, {"message_id", "wamid.1"}});
  CHECK(single(h, "ctx:cta_url('Tu póliza', 'Abrir', 'https://ex.com/p')") ==
        json{{"type", "cta_url"}, {"text", "Tu póliza"}, {"display_text", "Abrir"}, {"url", "https://ex.com/p"}});
  CHECK(single(h, "ctx:location{ latitude = 19.43, longitude = -99.13, name = 'Oficina' }") ==
        json{{"type", "location"}, {"latitude", 19.43}, {"longitude", -99.13}, {"name", "Oficina"}});
}

TEST_CASE("outbound methods return nothing, so returning them means stay", "[lua][ctx]") {
  Harness h;
  const TurnResult r = run_body(h, "return ctx:say('x')");
  REQUIRE(r.ok);
  CHECK(r.state == "A");
  CHECK(r.transitions.empty());
}

TEST_CASE("programming errors raise at the call site with file:line", "[lua][ctx]") {
  Harness h;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"ctx:say(42)", "text must be a string"},
      {"ctx:say('')", "text must not be empty"},
      {"ctx:say('\\xff\\xfe')", "not valid UTF-8"},
      {"ctx.say('x')", "call methods with ':'"},
      {"ctx:buttons('x', {})", "buttons: expected a non-empty array"},
      {"ctx:buttons('x', { {id='a'} })", "needs a non-empty title"},
      {"ctx:buttons('x', { function() end })", "functions cannot be sent"},
      {"ctx:media('gif', { link = 'x' })", "kind must be"},
      {"ctx:media('image', { link = 'x', id = 'y' })", "exactly one of link= or id="},
      {"ctx:media('image', { link = 'x', captoin = 'y' })", "unknown option 'captoin'"},
      {"ctx:location{ latitude = 'north' }", "latitude must be a number"},
      {"ctx:history(-1)", "count must be a non-negative integer"},
      {"ctx.nombre = 'x'", "ctx has no such field"},
  };
  for (const auto& [body, expected] : cases) {
    INFO(body);
    const TurnResult r = run_body(h, body);
    CHECK_FALSE(r.ok);
    CHECK(r.error_kind == "lua_error");
    CHECK_THAT(r.error, Contains("api.lua:2:") && Contains(expected));
  }
}

TEST_CASE("react and mark_read need a message in timer turns", "[lua][ctx]") {
  Harness h;
  h.load("api.lua", "return { name = 'api', initial = 'A', states = { A = { timers = { t = function(ctx)\n"
                    "ctx:react('👍')\nend } } } }");
  const TurnResult r = h.run(timer_turn("api", "A", "t"));
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.error, Contains("api.lua:2:") && Contains("no message to refer to"));
}

TEST_CASE("validate_outbound refusals raise where the message was built", "[lua][ctx]") {
  Harness h;
  TurnInput in = message_turn("api", "A", "hola");
  in.validate_outbound = [](const json& m) -> std::optional<std::string> {
    if (m["type"] == "buttons" && m["buttons"].size() > 3) return "at most 3 buttons";
    return std::nullopt;
  };
  TurnInput ok_in = in;
  const TurnResult r = run_body(h, "ctx:say('fine')\nctx:buttons('x', {'a','b','c','d'})", std::move(in));
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.error, Contains("api.lua:3:") && Contains("ctx:buttons: at most 3 buttons"));
  CHECK(r.outbound.empty());

  const TurnResult caught = run_body(
      h, "local ok, err = pcall(ctx.buttons, ctx, 'x', {'a','b','c','d'})\nctx:say(ok and 'sent' or 'refused')", std::move(ok_in));
  REQUIRE(caught.ok);
  CHECK(h.texts(caught) == std::vector<std::string>{"refused"});
}

TEST_CASE("history and transcript expose recent entries", "[lua][ctx]") {
  HostOptions o = small_options();
  o.history_limit = 3;
  Harness h(o);
  TurnInput in = message_turn("api", "A", "hola");
  in.history = std::make_shared<const json>(
      json::array({{{"dir", "in"}, {"type", "text"}, {"text", "muy viejo"}, {"ts", 1}},
                   {{"dir", "in"}, {"type", "text"}, {"text", "Hola"}, {"ts", 2}},
                   {{"dir", "out"}, {"type", "text"}, {"text", "¿Qué edad tienes?"}, {"ts", 3}},
                   {{"dir", "in"}, {"type", "image"}, {"ts", 4}}}));
  const TurnResult r = run_body(h, R"(
    local all = ctx:history()
    local last = ctx:history(1)
    ctx:say(#all .. " " .. all[1].text .. " " .. last[1].type .. " " .. last[1].ts)
    ctx:say(ctx:transcript())
    local chat = ctx:transcript{ last = 2 }
    ctx:say(#chat .. " " .. chat[1].role .. ":" .. chat[1].content .. " " .. chat[2].role .. ":" .. chat[2].content)
    ctx:say(string.format("%.3f", ctx:now()))
    ctx:log("logged", 1, true)
  )", std::move(in));
  INFO(r.error);
  REQUIRE(r.ok);
  const auto t = h.texts(r);
  REQUIRE(t.size() == 4);
  CHECK(t[0] == "3 Hola image 4");
  CHECK(t[1] == "Cliente: Hola\nAsistente: ¿Qué edad tienes?\nCliente: [image]");
  CHECK(t[2] == "2 assistant:¿Qué edad tienes? user:[image]");
  CHECK(t[3] == "1700000000.000");
}

TEST_CASE("msg carries the inbound message, raw included", "[lua][ctx]") {
  Harness h;
  const TurnResult r = run_body(h, R"(
    local keys = {}
    for k in pairs(msg) do keys[#keys + 1] = k end
    table.sort(keys)
    ctx:say(table.concat(keys, ","))
    ctx:say(msg.text .. " " .. msg.raw.x .. " " .. msg.id .. " " .. tostring(msg))
  )");
  REQUIRE(r.ok);
  CHECK(h.texts(r) == std::vector<std::string>{"from,id,raw,text,type", "hola 1 wamid.1 msg"});
}
