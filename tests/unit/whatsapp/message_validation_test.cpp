// validate(): WhatsApp's limits, reported as sentences at the ctx: call.
#include "whatsapp/protocol/message_builder.hpp"

#include <catch2/catch.hpp>

using namespace charla::whatsapp;
using json = nlohmann::json;

namespace {

std::string repeat(const std::string& unit, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += unit;
  return out;
}

json buttons(json list, std::string text = "¿Qué prefieres?") {
  return {{"type", "buttons"}, {"text", std::move(text)}, {"buttons", std::move(list)}};
}

json list_message(json sections, std::string button = "Ver opciones") {
  return {{"type", "list"}, {"text", "Elige"}, {"button", std::move(button)}, {"sections", std::move(sections)}};
}

json rows(int n, const std::string& prefix = "r") {
  json out = json::array();
  for (int i = 0; i < n; ++i) out.push_back({{"id", prefix + std::to_string(i)}, {"title", "Opción " + std::to_string(i)}});
  return out;
}

// The error text, or "" when the message is valid.
std::string error_of(const json& message) { return validate(message).value_or(""); }

}  // namespace

TEST_CASE("text must be a non-empty string; length is not limited (it gets split)", "[validate]") {
  CHECK_FALSE(validate({{"type", "text"}, {"text", "hola"}}));
  CHECK_FALSE(validate({{"type", "text"}, {"text", std::string(20000, 'a')}}));
  CHECK(error_of({{"type", "text"}, {"text", ""}}) == "text must not be empty");
  CHECK(error_of({{"type", "text"}, {"text", " \n\t "}}) == "text must not be blank");
  CHECK(error_of({{"type", "text"}}) == "text is required");
  CHECK(error_of({{"type", "text"}, {"text", 5}}) == "text must be a string");
  CHECK(error_of({{"type", "text"}, {"text", "\xc3("}}) == "text is not valid UTF-8");
}

TEST_CASE("message shape and type", "[validate]") {
  CHECK(error_of(json::array()) == "an outbound message must be an object");
  CHECK(error_of(json::object()) == "an outbound message needs a type");
  CHECK(error_of({{"type", "carousel"}}).rfind("unknown outbound message type \"carousel\"", 0) == 0);
}

TEST_CASE("reply buttons: 1 to 3, titles up to 20 characters, unique ids", "[validate]") {
  CHECK_FALSE(validate(buttons({"Uno"})));
  CHECK_FALSE(validate(buttons({"Uno", "Dos", "Tres"})));
  CHECK(error_of(buttons({"Uno", "Dos", "Tres", "Cuatro"})) ==
        "WhatsApp allows at most 3 reply buttons; got 4 (use a list for more options)");
  CHECK(error_of(buttons(json::array())) == "buttons needs at least 1 button");
  CHECK(error_of(buttons("Uno")) == "buttons must be a list of buttons");

  // 20 characters are fine, 21 are not; emoji count as one character each.
  CHECK_FALSE(validate(buttons({std::string(20, 'a')})));
  CHECK(error_of(buttons({std::string(21, 'a')})) ==
        "button 1 title \"aaaaaaaaaaaaaaaaaaaaa\" has 21 characters; WhatsApp allows at most 20");
  CHECK_FALSE(validate(buttons({repeat("😀", 20)})));  // 80 bytes
  CHECK(validate(buttons({repeat("😀", 21)})));
  CHECK_FALSE(validate(buttons({repeat("ñ", 20)})));
  CHECK(validate(buttons({repeat("ñ", 21)})));

  CHECK(error_of(buttons({{{"id", "a"}, {"title", "Uno"}}, {{"id", "a"}, {"title", "Dos"}}})) ==
        "button 2 repeats the id \"a\"; ids must be unique");
  CHECK(error_of(buttons({"Sí", "Sí"})) == "button 2 repeats the id \"Sí\"; ids must be unique");
  CHECK(error_of(buttons({{{"id", "a"}, {"title", "Sí"}}, {{"id", "b"}, {"title", "Sí"}}})) ==
        "button 2 repeats the title \"Sí\"; titles must be unique");
  CHECK_FALSE(validate(buttons({{{"id", std::string(256, 'x')}, {"title", "Uno"}}})));
  CHECK(error_of(buttons({{{"id", std::string(257, 'x')}, {"title", "Uno"}}})) ==
        "button 1 id has 257 characters; WhatsApp allows at most 256");
  CHECK(error_of(buttons({{{"id", ""}, {"title", "Uno"}}})) == "button 1 id must not be empty");
  CHECK(error_of(buttons({""})) == "button 1 title must not be empty");
  CHECK(error_of(buttons({{{"id", "a"}}})) == "button 1 must be a title or {id, title} with string values");
  CHECK(error_of(buttons({{{"id", 1}, {"title", "Uno"}}})) == "button 1 must be a title or {id, title} with string values");
  CHECK(error_of(buttons({1})) == "button 1 must be a title or {id, title} with string values");
}

TEST_CASE("reply buttons: body up to 1024 characters", "[validate]") {
  CHECK_FALSE(validate(buttons({"Uno"}, std::string(1024, 'a'))));
  CHECK(error_of(buttons({"Uno"}, std::string(1025, 'a'))) ==
        "buttons text has 1025 characters; WhatsApp allows at most 1024");
  CHECK(error_of(buttons({"Uno"}, "")) == "buttons text must not be empty");
}

TEST_CASE("list: at most 10 rows in total and field lengths", "[validate]") {
  CHECK_FALSE(validate(list_message({{{"title", "A"}, {"rows", rows(10)}}})));
  CHECK(error_of(list_message({{{"title", "A"}, {"rows", rows(11)}}})) ==
        "WhatsApp allows at most 10 list rows in total; this list has more");
  CHECK(error_of(list_message({{{"title", "A"}, {"rows", rows(6, "a")}}, {{"title", "B"}, {"rows", rows(5, "b")}}})) ==
        "WhatsApp allows at most 10 list rows in total; this list has more");
  CHECK_FALSE(validate(list_message({{{"title", "A"}, {"rows", rows(5, "a")}}, {{"title", "B"}, {"rows", rows(5, "b")}}})));

  CHECK(error_of(list_message({{{"rows", {{{"id", "a"}, {"title", std::string(25, 't')}}}}}})) ==
        "list section 1 row 1 title \"" + std::string(25, 't') + "\" has 25 characters; WhatsApp allows at most 24");
  CHECK_FALSE(validate(list_message({{{"rows", {{{"id", "a"}, {"title", std::string(24, 't')}}}}}})));
  CHECK(validate(list_message({{{"rows", {{{"id", "a"}, {"title", "t"}, {"description", std::string(73, 'd')}}}}}})));
  CHECK_FALSE(validate(list_message({{{"rows", {{{"id", "a"}, {"title", "t"}, {"description", std::string(72, 'd')}}}}}})));
  CHECK(validate(list_message({{{"rows", {{{"id", std::string(201, 'i')}, {"title", "t"}}}}}})));
  CHECK(error_of(list_message({{{"rows", rows(1)}}}, std::string(21, 'b'))) ==
        "list button label \"" + std::string(21, 'b') + "\" has 21 characters; WhatsApp allows at most 20");
  CHECK(error_of(list_message({{{"rows", rows(1)}}}, "")) == "list button label must not be empty");
  CHECK(error_of(list_message({{{"title", std::string(25, 's')}, {"rows", rows(1)}}})) ==
        "list section 1 title \"" + std::string(25, 's') + "\" has 25 characters; WhatsApp allows at most 24");
  // A title is required once there are several sections.
  CHECK(error_of(list_message({{{"rows", rows(1, "a")}}, {{"title", "B"}, {"rows", rows(1, "b")}}})) ==
        "list section 1 title is required");
  CHECK(error_of(list_message({{{"title", "A"}, {"rows", rows(1)}}, {{"title", "B"}, {"rows", rows(1)}}})) ==
        "list section 2 row 1 repeats the id \"r0\"; ids must be unique");
  CHECK(error_of(list_message(json::array())) == "list needs at least 1 section");
  CHECK(error_of(list_message({{{"title", "A"}, {"rows", json::array()}}})) == "list section 1 needs at least 1 row");
  json body_too_long = list_message({{{"rows", rows(1)}}});
  body_too_long["text"] = std::string(4097, 'x');
  CHECK(error_of(body_too_long) == "list text has 4097 characters; WhatsApp allows at most 4096");
  body_too_long["text"] = std::string(4096, 'x');
  CHECK_FALSE(validate(body_too_long));
}

TEST_CASE("template needs a name and a language", "[validate]") {
  CHECK_FALSE(validate({{"type", "template"}, {"name", "hello_world"}, {"language", "en_US"}}));
  CHECK(error_of({{"type", "template"}, {"language", "en_US"}}) == "template name is required");
  CHECK(error_of({{"type", "template"}, {"name", "hello_world"}}) == "template language is required (e.g. \"es_MX\")");
  CHECK(validate({{"type", "template"}, {"name", "x"}, {"language", 5}}));
  CHECK(validate({{"type", "template"}, {"name", "x"}, {"language", "es"}, {"parameters", "a"}}));
  CHECK(validate({{"type", "template"}, {"name", "x"}, {"language", "es"}, {"parameters", {json::object()}}}));
  CHECK(validate({{"type", "template"}, {"name", "x"}, {"language", "es"}, {"components", {1}}}));
  CHECK(error_of({{"type", "template"},
                  {"name", "x"},
                  {"language", "es"},
                  {"components", {{{"type", "body"}, {"parameters", {{{"type", "text"}, {"text", "\xff"}}}}}}}}) ==
        "template components contain text that is not valid UTF-8");
  CHECK(error_of({{"type", "template"},
                  {"name", "x"},
                  {"language", "es"},
                  {"parameters", {"a"}},
                  {"components", json::array()}}) == "template takes either parameters or components, not both");
}

TEST_CASE("media needs exactly one of link or id", "[validate]") {
  CHECK_FALSE(validate({{"type", "image"}, {"link", "https://example.com/a.jpg"}}));
  CHECK_FALSE(validate({{"type", "image"}, {"id", "123"}}));
  CHECK(error_of({{"type", "image"}}) == "image needs exactly one of link or id");
  CHECK(error_of({{"type", "video"}, {"id", "1"}, {"link", "https://x.y/z"}}) == "video needs exactly one of link or id");
  CHECK(error_of({{"type", "image"}, {"link", "ftp://x/y"}}) == "image link must be an http:// or https:// URL");
  CHECK(error_of({{"type", "image"}, {"link", "https://"}}) == "image link must be an http:// or https:// URL");
  CHECK_FALSE(validate({{"type", "image"}, {"id", "1"}, {"caption", std::string(1024, 'c')}}));
  CHECK(error_of({{"type", "image"}, {"id", "1"}, {"caption", std::string(1025, 'c')}}) ==
        "image caption has 1025 characters; WhatsApp allows at most 1024");
  CHECK(error_of({{"type", "audio"}, {"id", "1"}, {"caption", "x"}}) == "audio messages cannot have a caption");
  CHECK(error_of({{"type", "sticker"}, {"id", "1"}, {"caption", "x"}}) == "sticker messages cannot have a caption");
  CHECK(error_of({{"type", "image"}, {"id", "1"}, {"filename", "a.jpg"}}) == "only documents can have a filename");
  CHECK_FALSE(validate({{"type", "document"}, {"id", "1"}, {"filename", "a.pdf"}, {"caption", "Póliza"}}));
}

TEST_CASE("reaction and mark_read need a message_id", "[validate]") {
  CHECK_FALSE(validate({{"type", "reaction"}, {"message_id", "wamid.X"}, {"emoji", "👍"}}));
  CHECK_FALSE(validate({{"type", "reaction"}, {"message_id", "wamid.X"}}));
  CHECK(error_of({{"type", "reaction"}, {"emoji", "👍"}}) == "reaction message_id is required");
  CHECK_FALSE(validate({{"type", "mark_read"}, {"message_id", "wamid.X"}}));
  CHECK(error_of({{"type", "mark_read"}}) == "mark_read message_id is required");
  CHECK(error_of({{"type", "mark_read"}, {"message_id", "w"}, {"typing", "yes"}}) == "mark_read typing must be true or false");
}

TEST_CASE("cta_url: display text up to 20 characters and an http(s) url", "[validate]") {
  const json ok = {{"type", "cta_url"}, {"text", "Mira"}, {"display_text", "Ver póliza"}, {"url", "https://example.com"}};
  CHECK_FALSE(validate(ok));
  json m = ok;
  m["display_text"] = std::string(21, 'd');
  CHECK(error_of(m) == "cta_url display_text \"" + std::string(21, 'd') + "\" has 21 characters; WhatsApp allows at most 20");
  m = ok;
  m["url"] = "javascript:alert(1)";
  CHECK(error_of(m) == "cta_url url must be an http:// or https:// URL");
  m["url"] = "HTTP://EXAMPLE.COM";
  CHECK_FALSE(validate(m));
  m = ok;
  m.erase("url");
  CHECK(error_of(m) == "cta_url url is required");
  m = ok;
  m["text"] = std::string(1025, 't');
  CHECK(validate(m));
}

TEST_CASE("location needs numeric coordinates in range", "[validate]") {
  CHECK_FALSE(validate({{"type", "location"}, {"latitude", 19.4}, {"longitude", -99.1}}));
  CHECK(error_of({{"type", "location"}, {"latitude", "19.4"}, {"longitude", -99.1}}) == "location latitude must be a number");
  CHECK(error_of({{"type", "location"}, {"latitude", 91}, {"longitude", 0}}) == "location latitude must be between -90 and 90");
  CHECK(error_of({{"type", "location"}, {"latitude", 0}, {"longitude", -181}}) ==
        "location longitude must be between -180 and 180");
}

TEST_CASE("reply_to must be a string", "[validate]") {
  CHECK(error_of({{"type", "text"}, {"text", "x"}, {"reply_to", 5}}) == "reply_to must be a string");
}
