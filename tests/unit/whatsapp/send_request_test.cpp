// The bodies of the send API and of the compatibility routes, read into one request.
#include "whatsapp/send_request.hpp"

#include <catch2/catch.hpp>

using namespace charla::whatsapp;
using json = nlohmann::json;

namespace {

SendRequest ok(const ParsedSend& parsed) {
  if (auto* why = std::get_if<std::string>(&parsed)) FAIL("refused: " << *why);
  return std::get<SendRequest>(parsed);
}

std::string refused(const ParsedSend& parsed) {
  REQUIRE(std::holds_alternative<std::string>(parsed));
  return std::get<std::string>(parsed);
}

}  // namespace

TEST_CASE("phones are normalized to digits", "[send]") {
  CHECK(normalize_phone("+56 9 1234-5678") == "56912345678");
  CHECK(normalize_phone("(521) 555.000.0001") == "5215550000001");
  CHECK_FALSE(normalize_phone("12345"));
  CHECK_FALSE(normalize_phone("56912345678x"));
  CHECK_FALSE(normalize_phone("5691+2345678"));
}

TEST_CASE("admin send: text, template, media; one recipient; windows", "[send]") {
  auto text = ok(parse_admin_send({{"to", "+56912345678"}, {"text", "hola"}, {"agent", "Ana"}}));
  CHECK(text.to == "56912345678");
  CHECK(text.message == json({{"type", "text"}, {"text", "hola"}}));
  CHECK(text.agent == "Ana");
  CHECK(text.needs_window());
  auto tmpl = ok(parse_admin_send({{"conversation", "whatsapp:123:569"},
                                   {"template", {{"name", "cita"}, {"language", "es"}, {"parameters", {"Ana"}}}}}));
  CHECK(tmpl.message["type"] == "template");
  CHECK_FALSE(tmpl.needs_window());
  auto media = ok(parse_admin_send({{"to", "56912345678"}, {"media", {{"type", "document"}, {"link", "https://x.example/a.pdf"},
                                                                      {"filename", "a.pdf"}}}}));
  CHECK(media.message == json({{"type", "document"}, {"link", "https://x.example/a.pdf"}, {"filename", "a.pdf"}}));
  CHECK(media.needs_window());

  CHECK_THAT(refused(parse_admin_send({{"text", "x"}})), Catch::Contains("exactly one recipient"));
  CHECK_THAT(refused(parse_admin_send({{"to", "569123456"}, {"conversation", "whatsapp:1:2"}, {"text", "x"}})),
             Catch::Contains("exactly one recipient"));
  CHECK_THAT(refused(parse_admin_send({{"to", "569123456"}, {"text", "x"}, {"template", {{"name", "a"}}}})),
             Catch::Contains("exactly one of"));
  CHECK_THAT(refused(parse_admin_send({{"to", "569123456"}, {"template", {{"name", "a"}}}})), Catch::Contains("language"));
  CHECK_THAT(refused(parse_admin_send({{"to", "569123456"}, {"text", "   "}})), Catch::Contains("blank"));
  CHECK_THAT(refused(parse_admin_send({{"conversation", "console:x"}, {"text", "x"}})), Catch::Contains("whatsapp:"));
  CHECK_THAT(refused(parse_admin_send({{"to", "569123456"}, {"media", {{"type", "gif"}, {"link", "https://x"}}}})),
             Catch::Contains("media \"type\""));
  CHECK_THAT(refused(parse_admin_send(json::array())), Catch::Contains("JSON object"));
}

TEST_CASE("admin send-interactive: buttons in three shapes, lists, WhatsApp limits", "[send]") {
  auto b = ok(parse_admin_send_interactive(
      {{"to", "569123456"}, {"body", "¿Cuál?"}, {"title", "Servicios"},
       {"buttons", {"Sí", {{"id", "n"}, {"title", "No"}}, {{"type", "reply"}, {"reply", {{"id", "t"}, {"title", "Tal vez"}}}}}}}));
  CHECK(b.message["type"] == "buttons");
  CHECK(b.message["header"] == "Servicios");
  CHECK(b.message["buttons"] == json({"Sí", {{"id", "n"}, {"title", "No"}}, {{"id", "t"}, {"title", "Tal vez"}}}));
  auto l = ok(parse_admin_send_interactive(
      {{"to", "569123456"}, {"text", "Elige"}, {"button", "Ver"}, {"sections", {{{"rows", {"a", "b"}}}}}}));
  CHECK(l.message["type"] == "list");
  CHECK_THAT(refused(parse_admin_send_interactive({{"to", "569123456"}, {"text", "x"}, {"buttons", {"a", "b", "c", "d"}}})),
             Catch::Contains("at most 3"));
  CHECK_THAT(refused(parse_admin_send_interactive({{"to", "569123456"}, {"text", "x"}, {"sections", json::array()}})),
             Catch::Contains("\"button\""));
  CHECK_THAT(refused(parse_admin_send_interactive({{"to", "569123456"}, {"buttons", {"a"}}})), Catch::Contains("\"text\""));
}

TEST_CASE("compatibility bodies of the replaced systems", "[send]") {
  auto aura = ok(parse_compat_send({{"phone_number", "+56912345678"}, {"message", "¡Hola!"}, {"message_type", "text"}}));
  CHECK(aura.to == "56912345678");
  CHECK(aura.message["text"] == "¡Hola!");
  auto tmpl = ok(parse_compat_send({{"phone_number", "+56912345678"}, {"message", "bienvenida"}, {"message_type", "template"}}));
  CHECK(tmpl.message == json({{"type", "template"}, {"name", "bienvenida"}, {"language", "es"}}));
  CHECK_THAT(refused(parse_compat_send({{"phone_number", "+56912345678"}, {"message", ""}, {"message_type", "template"}})),
             Catch::Contains("template_name"));
  CHECK_THAT(refused(parse_compat_send({{"message", "x"}})), Catch::Contains("phone_number"));
  auto inter = ok(parse_compat_send_interactive(
      {{"phone_number", "+56912345678"}, {"title", "Servicios"}, {"body", "¿Qué?"},
       {"buttons", {{{"type", "reply"}, {"reply", {{"id", "facial"}, {"title", "Tratamiento Facial"}}}}}}}));
  CHECK(inter.message["buttons"][0] == json({{"id", "facial"}, {"title", "Tratamiento Facial"}}));
  auto integ = ok(parse_integrations_send({{"phone_number", "1234567890"}, {"message", "hola"}, {"business_account_id", "777"}}));
  CHECK(integ.account == "777");
  CHECK(integ.account_is_hint);
}
