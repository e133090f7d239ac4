// build_requests(): the Graph API bodies for each channel-neutral message type.
#include "whatsapp/protocol/message_builder.hpp"

#include <catch2/catch.hpp>

using namespace charla::whatsapp;
using json = nlohmann::json;

namespace {

const std::string kTo = "5215550000001";

json one_request(const json& message, std::string_view to = kTo, bool bsuid = false) {
  INFO(message.dump());
  const auto requests = build_requests(message, to, bsuid);
  REQUIRE(requests.size() == 1);
  return requests[0];
}

void check_envelope(const json& body, const std::string& type) {
  CHECK(body["messaging_product"] == "whatsapp");
  CHECK(body["recipient_type"] == "individual");
  CHECK(body["to"] == kTo);
  CHECK_FALSE(body.contains("recipient"));
  CHECK(body["type"] == type);
}

}  // namespace

TEST_CASE("text", "[builder]") {
  const json body = one_request({{"type", "text"}, {"text", "¡Hola! Soy Vida 👋"}});
  check_envelope(body, "text");
  CHECK(body["text"] == json({{"body", "¡Hola! Soy Vida 👋"}, {"preview_url", false}}));
  CHECK_FALSE(body.contains("context"));

  const json preview = one_request({{"type", "text"}, {"text", "https://example.com"}, {"preview_url", true}});
  CHECK(preview["text"]["preview_url"] == true);
}

TEST_CASE("a BSUID user is addressed with recipient, never to", "[builder]") {
  const json body = one_request({{"type", "text"}, {"text", "hola"}}, "MX.1500000000000000009", true);
  CHECK(body["recipient"] == "MX.1500000000000000009");
  CHECK_FALSE(body.contains("to"));
  CHECK(body["messaging_product"] == "whatsapp");
}

TEST_CASE("no recipient means no request", "[builder]") {
  CHECK(build_requests({{"type", "text"}, {"text", "hola"}}, "", false).empty());
  CHECK(build_requests({{"type", "text"}, {"text", "hola"}}, "", true).empty());
}

TEST_CASE("invalid messages build nothing", "[builder]") {
  CHECK(build_requests({{"type", "text"}, {"text", ""}}, kTo, false).empty());
  CHECK(build_requests({{"type", "nope"}}, kTo, false).empty());
  CHECK(build_requests(json::array(), kTo, false).empty());
}

TEST_CASE("a long text becomes several text requests in order", "[builder]") {
  std::string text;
  for (int i = 0; i < 300; ++i) text += "Párrafo " + std::to_string(i) + ": la póliza cubre gastos médicos mayores.\n\n";
  const auto requests = build_requests({{"type", "text"}, {"text", text}, {"reply_to", "wamid.Q"}}, kTo, false);
  REQUIRE(requests.size() > 1);
  std::string joined;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    check_envelope(requests[i], "text");
    const std::string part = requests[i]["text"]["body"];
    CHECK(part.size() <= 4096 * 4);
    if (i > 0) joined += "\n\n";
    joined += part;
    // Only the first part quotes the message replied to.
    CHECK(requests[i].contains("context") == (i == 0));
  }
  CHECK(requests[0]["context"]["message_id"] == "wamid.Q");
  CHECK(requests[0]["text"]["body"].get<std::string>().rfind("Párrafo 0:", 0) == 0);
  // Cuts at paragraph breaks: nothing but the separators is lost.
  auto rtrim = [](std::string s) {
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  };
  CHECK(rtrim(joined) == rtrim(text));
}

TEST_CASE("buttons", "[builder]") {
  const json body = one_request({{"type", "buttons"},
                                 {"text", "¿Qué plan te interesa?"},
                                 {"buttons", {{{"id", "basico"}, {"title", "Plan básico"}}, "Hablar con asesor"}}});
  check_envelope(body, "interactive");
  CHECK(body["interactive"] ==
        json({{"type", "button"},
              {"body", {{"text", "¿Qué plan te interesa?"}}},
              {"action",
               {{"buttons",
                 {{{"type", "reply"}, {"reply", {{"id", "basico"}, {"title", "Plan básico"}}}},
                  {{"type", "reply"}, {"reply", {{"id", "Hablar con asesor"}, {"title", "Hablar con asesor"}}}}}}}}}));
}

TEST_CASE("list", "[builder]") {
  const json message = {
      {"type", "list"},
      {"text", "Elige un horario"},
      {"button", "Ver horarios"},
      {"sections",
       {{{"title", "Miércoles"},
         {"rows",
          {{{"id", "slot_1030"}, {"title", "Mié 10:30"}, {"description", "Dra. Paredes"}},
           {{"id", "slot_1100"}, {"title", "Mié 11:00"}}}}},
        {{"title", "Jueves"}, {"rows", {"Jue 9:00"}}}}}};
  const json body = one_request(message);
  check_envelope(body, "interactive");
  const json& interactive = body["interactive"];
  CHECK(interactive["type"] == "list");
  CHECK(interactive["body"]["text"] == "Elige un horario");
  CHECK(interactive["action"]["button"] == "Ver horarios");
  const json& sections = interactive["action"]["sections"];
  REQUIRE(sections.size() == 2);
  CHECK(sections[0]["title"] == "Miércoles");
  CHECK(sections[0]["rows"][0] == json({{"id", "slot_1030"}, {"title", "Mié 10:30"}, {"description", "Dra. Paredes"}}));
  CHECK(sections[0]["rows"][1] == json({{"id", "slot_1100"}, {"title", "Mié 11:00"}}));
  CHECK(sections[1]["rows"][0] == json({{"id", "Jue 9:00"}, {"title", "Jue 9:00"}}));
}

TEST_CASE("template with simple parameters or full components", "[builder]") {
  const json simple = one_request(
      {{"type", "template"}, {"name", "recordatorio_cita"}, {"language", "es_MX"}, {"parameters", {"Ana", 10}}});
  check_envelope(simple, "template");
  CHECK(simple["template"] ==
        json({{"name", "recordatorio_cita"},
              {"language", {{"code", "es_MX"}}},
              {"components",
               {{{"type", "body"},
                 {"parameters", {{{"type", "text"}, {"text", "Ana"}}, {{"type", "text"}, {"text", "10"}}}}}}}}));

  const json components = {{{"type", "header"}, {"parameters", {{{"type", "image"}, {"image", {{"link", "https://x/y.png"}}}}}}}};
  const json full = one_request({{"type", "template"},
                                 {"name", "promo"},
                                 {"language", {{"code", "es"}}},
                                 {"components", components}});
  CHECK(full["template"]["components"] == components);
  CHECK(full["template"]["language"]["code"] == "es");

  const json bare = one_request({{"type", "template"}, {"name", "hello_world"}, {"language", "en_US"}});
  CHECK_FALSE(bare["template"].contains("components"));
}

TEST_CASE("media by link or id", "[builder]") {
  const json image = one_request({{"type", "image"}, {"link", "https://example.com/a.jpg"}, {"caption", "Fachada"}});
  check_envelope(image, "image");
  CHECK(image["image"] == json({{"link", "https://example.com/a.jpg"}, {"caption", "Fachada"}}));

  const json doc = one_request({{"type", "document"}, {"id", "1000000000000006"}, {"filename", "poliza.pdf"}});
  CHECK(doc["document"] == json({{"id", "1000000000000006"}, {"filename", "poliza.pdf"}}));

  for (std::string type : {"audio", "video", "sticker"}) {
    const json body = one_request({{"type", type}, {"id", "42"}});
    check_envelope(body, type);
    CHECK(body[type] == json({{"id", "42"}}));
  }
}

TEST_CASE("reaction, including removal", "[builder]") {
  const json add = one_request({{"type", "reaction"}, {"message_id", "wamid.X"}, {"emoji", "👍"}});
  check_envelope(add, "reaction");
  CHECK(add["reaction"] == json({{"message_id", "wamid.X"}, {"emoji", "👍"}}));
  const json remove = one_request({{"type", "reaction"}, {"message_id", "wamid.X"}});
  CHECK(remove["reaction"]["emoji"] == "");
}

TEST_CASE("mark_read needs no recipient", "[builder]") {
  const json body = one_request({{"type", "mark_read"}, {"message_id", "wamid.X"}}, "");
  CHECK(body == json({{"messaging_product", "whatsapp"}, {"status", "read"}, {"message_id", "wamid.X"}}));
  const json typing = one_request({{"type", "mark_read"}, {"message_id", "wamid.X"}, {"typing", true}});
  CHECK(typing["typing_indicator"] == json({{"type", "text"}}));
  CHECK_FALSE(typing.contains("to"));
}

TEST_CASE("cta_url", "[builder]") {
  const json body = one_request(
      {{"type", "cta_url"}, {"text", "Consulta tu póliza"}, {"display_text", "Ver póliza"}, {"url", "https://example.com/p"}});
  check_envelope(body, "interactive");
  CHECK(body["interactive"] ==
        json({{"type", "cta_url"},
              {"body", {{"text", "Consulta tu póliza"}}},
              {"action",
               {{"name", "cta_url"}, {"parameters", {{"display_text", "Ver póliza"}, {"url", "https://example.com/p"}}}}}}));
}

TEST_CASE("location", "[builder]") {
  const json body = one_request({{"type", "location"},
                                 {"latitude", 19.43259},
                                 {"longitude", -99.19471},
                                 {"name", "Oficina Polanco"},
                                 {"address", "Campos Elíseos 204"}});
  check_envelope(body, "location");
  CHECK(body["location"]["latitude"] == 19.43259);
  CHECK(body["location"]["longitude"] == -99.19471);
  CHECK(body["location"]["name"] == "Oficina Polanco");
  CHECK(body["location"]["address"] == "Campos Elíseos 204");
}

TEST_CASE("reply_to quotes a message", "[builder]") {
  const json body = one_request({{"type", "buttons"}, {"text", "¿Confirmas?"}, {"buttons", {"Sí", "No"}}, {"reply_to", "wamid.Q"}});
  CHECK(body["context"] == json({{"message_id", "wamid.Q"}}));
}

TEST_CASE("buttons and lists may carry a text header of at most 60 characters", "[builder]") {
  const json buttons = one_request({{"type", "buttons"}, {"header", "Servicios Disponibles"}, {"text", "¿Qué servicio?"},
                                    {"buttons", json::array({"Facial"})}});
  CHECK(buttons["interactive"]["header"] == json({{"type", "text"}, {"text", "Servicios Disponibles"}}));
  const json list = one_request({{"type", "list"}, {"header", "Horarios"}, {"text", "Elige"}, {"button", "Ver"},
                                 {"sections", json::array({{{"rows", json::array({"Hoy 18:00"})}}})}});
  CHECK(list["interactive"]["header"]["text"] == "Horarios");
  const json plain = one_request({{"type", "buttons"}, {"text", "x"}, {"buttons", json::array({"a"})}});
  CHECK_FALSE(plain["interactive"].contains("header"));

  const json too_long = {{"type", "buttons"}, {"header", std::string(61, 'h')}, {"text", "x"}, {"buttons", json::array({"a"})}};
  auto why = validate(too_long);
  REQUIRE(why);
  CHECK(why->find("header") != std::string::npos);
  CHECK(build_requests(too_long, kTo, false).empty());
}
