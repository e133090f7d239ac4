// The parser on bodies Meta is not supposed to send: never a crash, the bad item is
// skipped with a warning, the good ones survive.
#include "whatsapp/protocol/webhook_parser.hpp"

#include "shared_files.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <set>

using namespace charla::whatsapp;
using charla::whatsapp::test::files_in;
using charla::whatsapp::test::read_bytes;
using charla::whatsapp::test::whatsapp_dir;
using json = nlohmann::json;

namespace {

json text_message(const std::string& id, const std::string& from = "5215550000001") {
  return {{"from", from}, {"id", id}, {"timestamp", "1793000000"}, {"type", "text"}, {"text", {{"body", "hola"}}}};
}

json value_with(json messages) {
  return {{"messaging_product", "whatsapp"},
          {"metadata", {{"display_phone_number", "5215550009001"}, {"phone_number_id", "100000000000001"}}},
          {"contacts", json::array({{{"profile", {{"name", "Ana"}}}, {"wa_id", "5215550000001"}}})},
          {"messages", std::move(messages)}};
}

json body_with(json value, std::string field = "messages") {
  return {{"object", "whatsapp_business_account"},
          {"entry", json::array({{{"id", "200000000000001"},
                                  {"changes", json::array({{{"field", field}, {"value", std::move(value)}}})}}})}};
}

WebhookBatch parse_ok(const json& body) {
  auto r = parse_webhook(body.dump());
  REQUIRE(r.ok);
  return r.batch;
}

bool has_warning(const WebhookBatch& b, const std::string& text) {
  for (const auto& w : b.warnings) {
    if (w == text) return true;
  }
  return false;
}

std::string all_warnings(const WebhookBatch& b) {
  std::string out;
  for (const auto& w : b.warnings) out += w + "\n";
  return out;
}

}  // namespace

TEST_CASE("invalid JSON is a parse error, not a batch", "[webhook][malformed]") {
  for (std::string body : {"", " ", "{", "}", "{\"entry\":[}", "{\"a\":1} trailing", "nul", "\xff\xfe",
                           "{\"a\":\"\xc3\"}", "{\"a\":\"\\ud83d\"}", "[1,2,]", "{'a':1}", "/* c */ {}"}) {
    INFO("body: " << body);
    const auto r = parse_webhook(body);
    CHECK_FALSE(r.ok);
    CHECK_FALSE(r.error.empty());
    CHECK(r.batch.messages.empty());
  }
}

TEST_CASE("valid JSON of the wrong shape gives warnings, not a crash", "[webhook][malformed]") {
  for (std::string body : {"[]", "42", "\"x\"", "null", "true", "[{\"entry\":[]}]"}) {
    INFO("body: " << body);
    const auto r = parse_webhook(body);
    REQUIRE(r.ok);
    CHECK(has_warning(r.batch, "body: not a JSON object"));
  }
  CHECK(has_warning(parse_ok(json::object()), "body: missing entry"));
  CHECK(has_warning(parse_ok({{"entry", {{"a", 1}}}}), "body: entry is not an array"));
  CHECK(has_warning(parse_ok({{"entry", "x"}}), "body: entry is not an array"));
  const auto b = parse_ok({{"entry", {1, "a", nullptr, json::array()}}});
  CHECK(has_warning(b, "entry[0]: not an object"));
  CHECK(has_warning(b, "entry[3]: not an object"));
  CHECK(has_warning(parse_ok({{"entry", {json::object()}}}), "entry[0]: missing changes"));
  CHECK(has_warning(parse_ok({{"entry", {{{"changes", 5}}}}}), "entry[0]: changes is not an array"));
  CHECK(has_warning(parse_ok({{"entry", {{{"changes", {json::array()}}}}}}), "entry[0].changes[0]: not an object"));
  CHECK(has_warning(parse_ok({{"entry", {{{"changes", {{{"value", json::object()}}}}}}}}),
                    "entry[0].changes[0]: missing field"));
  CHECK(has_warning(parse_ok({{"entry", {{{"changes", {{{"field", 7}}}}}}}}), "entry[0].changes[0]: missing field"));
  CHECK(has_warning(parse_ok({{"entry", {{{"changes", {{{"field", "messages"}}}}}}}}),
                    "entry[0].changes[0].value: missing"));
  CHECK(has_warning(parse_ok({{"entry", {{{"changes", {{{"field", "messages"}, {"value", json::array()}}}}}}}}),
                    "entry[0].changes[0].value: not an object"));
  CHECK(has_warning(parse_ok({{"object", "page"}, {"entry", json::array()}}),
                    "body: object is \"page\", not whatsapp_business_account"));
}

TEST_CASE("one bad message is skipped, its siblings are kept", "[webhook][malformed]") {
  json no_id = text_message("x");
  no_id.erase("id");
  json no_sender = text_message("wamid.nosender");
  no_sender.erase("from");
  json id_wrong_type = text_message("x");
  id_wrong_type["id"] = json::object();

  const auto b = parse_ok(body_with(value_with(
      {text_message("wamid.A"), no_id, 17, no_sender, id_wrong_type, text_message("wamid.B"), nullptr})));
  INFO(all_warnings(b));
  REQUIRE(b.messages.size() == 2);
  CHECK(b.messages[0].id == "wamid.A");
  CHECK(b.messages[1].id == "wamid.B");
  CHECK(has_warning(b, "entry[0].changes[0].value.messages[1]: missing id"));
  CHECK(has_warning(b, "entry[0].changes[0].value.messages[2]: not an object"));
  CHECK(has_warning(b, "entry[0].changes[0].value.messages[3]: missing from and from_user_id"));
  CHECK(has_warning(b, "entry[0].changes[0].value.messages[4]: missing id"));
  CHECK(has_warning(b, "entry[0].changes[0].value.messages[6]: not an object"));
}

TEST_CASE("wrong types inside a message are tolerated", "[webhook][malformed]") {
  SECTION("type missing or not a string is kept as unknown") {
    json m = text_message("wamid.T");
    m["type"] = 5;
    const auto b = parse_ok(body_with(value_with(json::array({m}))));
    REQUIRE(b.messages.size() == 1);
    CHECK(b.messages[0].type == "unknown");
    CHECK(has_warning(b, "entry[0].changes[0].value.messages[0]: missing type; kept as \"unknown\""));
  }
  SECTION("bad timestamp becomes 0 with a warning") {
    for (json ts : {json("abc"), json("-5"), json(""), json::array(), json(-1), json("12x")}) {
      json m = text_message("wamid.T");
      m["timestamp"] = ts;
      const auto b = parse_ok(body_with(value_with(json::array({m}))));
      REQUIRE(b.messages.size() == 1);
      CHECK(b.messages[0].timestamp == 0);
      CHECK(has_warning(b, "entry[0].changes[0].value.messages[0]: missing or invalid timestamp; using 0"));
    }
  }
  SECTION("numeric timestamp and ids are accepted") {
    json m = text_message("wamid.T");
    m["timestamp"] = 1793000000;
    m["from"] = 5215550000001LL;
    const auto b = parse_ok(body_with(value_with(json::array({m}))));
    REQUIRE(b.messages.size() == 1);
    CHECK(b.messages[0].timestamp == 1793000000);
    CHECK(b.messages[0].user == "5215550000001");
    CHECK(b.warnings.empty());
  }
  SECTION("type objects of the wrong JSON type leave the lifted fields out") {
    std::vector<json> odd = {
        {{"type", "text"}, {"text", "not an object"}},
        {{"type", "text"}, {"text", {{"body", 42}}}},
        {{"type", "image"}, {"image", {{"id", 5}, {"caption", json::array()}, {"voice", "yes"}}}},
        {{"type", "interactive"}, {"interactive", {{"type", "button_reply"}, {"button_reply", "x"}}}},
        {{"type", "interactive"}, {"interactive", {{"type", 3}}}},
        {{"type", "interactive"}, {"interactive", {{"type", "nfm_reply"}, {"nfm_reply", {{"response_json", 7}}}}}},
        {{"type", "location"}, {"location", {{"latitude", "19.5"}, {"longitude", "west"}}}},
        {{"type", "reaction"}, {"reaction", {{"emoji", 1}}}},
        {{"type", "button"}, {"button", nullptr}},
        {{"type", "contacts"}, {"contacts", "nope"}},
        {{"type", "raw"}},  // type names a key that is not the type object
        {{"type", "id"}},
    };
    for (auto m : odd) {
      INFO(m.dump());
      m["id"] = "wamid.odd";
      m["from"] = "5215550000001";
      m["timestamp"] = "1793000000";
      const auto b = parse_ok(body_with(value_with(json::array({m}))));
      REQUIRE(b.messages.size() == 1);
      const json& msg = b.messages[0].msg;
      CHECK(msg["id"] == "wamid.odd");
      CHECK(msg["raw"].is_object());
      if (msg.contains("text")) CHECK(msg["text"].is_string());
    }
  }
  SECTION("location coordinates given as numeric strings are converted") {
    json m = {{"id", "wamid.L"}, {"from", "1"}, {"timestamp", "1"}, {"type", "location"},
              {"location", {{"latitude", "19.5"}, {"longitude", "west"}}}};
    const auto b = parse_ok(body_with(value_with(json::array({m}))));
    REQUIRE(b.messages.size() == 1);
    CHECK(b.messages[0].msg["location"]["latitude"] == 19.5);
    CHECK_FALSE(b.messages[0].msg["location"].contains("longitude"));
  }
}

TEST_CASE("wrong types at the value level", "[webhook][malformed]") {
  SECTION("messages not an array") {
    const auto b = parse_ok(body_with(value_with({{"id", "x"}})));
    CHECK(b.messages.empty());
    CHECK(has_warning(b, "entry[0].changes[0].value: messages is not an array"));
  }
  SECTION("missing metadata skips messages and statuses but keeps errors") {
    json v = value_with({text_message("wamid.A")});
    v.erase("metadata");
    v["errors"] = {{{"code", 131000}}};
    const auto b = parse_ok(body_with(v));
    CHECK(b.messages.empty());
    REQUIRE(b.errors.size() == 1);
    CHECK(b.errors[0].phone_number_id.empty());
    CHECK(has_warning(b, "entry[0].changes[0].value: missing metadata.phone_number_id; messages and statuses skipped"));
  }
  SECTION("metadata of the wrong type") {
    for (json metadata : {json("x"), json::array(), json(1), json({{"phone_number_id", json::object()}})}) {
      json v = value_with({text_message("wamid.A")});
      v["metadata"] = metadata;
      const auto b = parse_ok(body_with(v));
      CHECK(b.messages.empty());
      CHECK_FALSE(b.warnings.empty());
    }
  }
  SECTION("contacts of the wrong shape: messages kept without a name") {
    for (json contacts : {json("x"), json({1, 2}), json({{{"wa_id", 5}}}), json({{{"profile", "Ana"}}})}) {
      json v = value_with({text_message("wamid.A")});
      v["contacts"] = contacts;
      const auto b = parse_ok(body_with(v));
      REQUIRE(b.messages.size() == 1);
      CHECK(b.messages[0].profile_name.empty());
    }
  }
  SECTION("contacts are matched by id, not by position") {
    json v = value_with({text_message("wamid.A", "5215550000002"), text_message("wamid.B", "5215550000001")});
    v["contacts"] = {{{"profile", {{"name", "Uno"}}}, {"wa_id", "5215550000001"}},
                     {{"profile", {{"name", "Dos"}}}, {"wa_id", "5215550000002"}}};
    const auto b = parse_ok(body_with(v));
    REQUIRE(b.messages.size() == 2);
    CHECK(b.messages[0].profile_name == "Dos");
    CHECK(b.messages[1].profile_name == "Uno");
  }
  SECTION("BSUID in the message, phone only in the contact") {
    json m = text_message("wamid.A");
    m.erase("from");
    m["from_user_id"] = "MX.1";
    json v = value_with(json::array({m}));
    v["contacts"] = {{{"profile", {{"name", "Ana"}}}, {"wa_id", "5215550000001"}, {"user_id", "MX.1"}}};
    const auto b = parse_ok(body_with(v));
    REQUIRE(b.messages.size() == 1);
    CHECK(b.messages[0].wa_id == "5215550000001");
    CHECK(b.messages[0].user_id == "MX.1");
    CHECK(b.messages[0].user == "5215550000001");
    CHECK(b.messages[0].profile_name == "Ana");
  }
  SECTION("statuses with missing id or status are skipped") {
    json v = value_with(json::array());
    v.erase("messages");
    v["statuses"] = {{{"status", "read"}, {"timestamp", "1"}},
                     {{"id", "wamid.S"}, {"timestamp", "1"}},
                     {{"id", "wamid.S"}, {"status", "read"}, {"timestamp", "1"}, {"recipient_user_id", "MX.9"}},
                     "x"};
    const auto b = parse_ok(body_with(v));
    REQUIRE(b.statuses.size() == 1);
    CHECK(b.statuses[0].recipient == "MX.9");
    CHECK(has_warning(b, "entry[0].changes[0].value.statuses[0]: missing id"));
    CHECK(has_warning(b, "entry[0].changes[0].value.statuses[1]: missing status"));
    CHECK(has_warning(b, "entry[0].changes[0].value.statuses[3]: not an object"));
  }
  SECTION("value errors not an array") {
    json v = value_with(json::array());
    v["errors"] = {{"code", 1}};
    const auto b = parse_ok(body_with(v));
    CHECK(b.errors.empty());
    CHECK(has_warning(b, "entry[0].changes[0].value: errors is not an array"));
  }
}

TEST_CASE("unknown message types are kept with their raw object", "[webhook]") {
  json m = {{"from", "5215550000001"}, {"id", "wamid.P"}, {"timestamp", "1793000000"}, {"type", "poll_vote"},
            {"poll_vote", {{"option", 2}, {"deep", {{"a", {{"b", {{"c", json::array({1, 2, 3})}}}}}}}}}};
  const auto b = parse_ok(body_with(value_with(json::array({m}))));
  REQUIRE(b.messages.size() == 1);
  CHECK(b.messages[0].type == "poll_vote");
  CHECK(b.messages[0].msg["raw"] == m);
  CHECK_FALSE(b.messages[0].msg.contains("text"));
  CHECK(b.warnings.empty());
}

TEST_CASE("unknown fields and changes are ignored or recorded", "[webhook]") {
  json body = body_with(value_with({text_message("wamid.A")}));
  body["entry"][0]["changes"].push_back({{"field", "account_update"}, {"value", {{"event", "X"}}}});
  body["entry"][0]["changes"].push_back({{"field", "phone_number_quality_update"}, {"value", 5}});
  body["entry"][0]["new_key"] = {{"nested", {1, 2, 3}}};
  body["extra"] = "ignored";
  const auto b = parse_ok(body);
  CHECK(b.messages.size() == 1);
  CHECK(b.ignored == std::vector<std::string>{"account_update", "phone_number_quality_update"});
  CHECK(b.warnings.empty());
}

TEST_CASE("WhatsApp Flow answers expose the parsed response_json", "[webhook]") {
  json nfm = {{"type", "nfm_reply"},
              {"nfm_reply", {{"name", "flow"}, {"body", "Sent"}, {"response_json", R"({"flow_token":"t","edad":38})"}}}};
  json m = {{"from", "5215550000001"}, {"id", "wamid.F"}, {"timestamp", "1"}, {"type", "interactive"},
            {"interactive", nfm}};
  auto b = parse_ok(body_with(value_with(json::array({m}))));
  REQUIRE(b.messages.size() == 1);
  CHECK(b.messages[0].msg["flow"]["name"] == "flow");
  CHECK(b.messages[0].msg["flow"]["body"] == "Sent");
  CHECK(b.messages[0].msg["flow"]["response"]["edad"] == 38);
  CHECK(b.messages[0].msg["text"] == "Sent");

  m["interactive"]["nfm_reply"]["response_json"] = "{not json";
  b = parse_ok(body_with(value_with(json::array({m}))));
  REQUIRE(b.messages.size() == 1);
  CHECK(b.messages[0].msg["flow"]["response"] == "{not json");
}

TEST_CASE("reaction with an empty emoji is a removal", "[webhook]") {
  json m = {{"from", "1"}, {"id", "wamid.R"}, {"timestamp", "1"}, {"type", "reaction"},
            {"reaction", {{"message_id", "wamid.X"}, {"emoji", ""}}}};
  const auto b = parse_ok(body_with(value_with(json::array({m}))));
  REQUIRE(b.messages.size() == 1);
  CHECK_FALSE(b.messages[0].msg["reaction"].contains("emoji"));
}

TEST_CASE("deep nesting is truncated instead of recursing without bound", "[webhook][malformed]") {
  SECTION("a bare deep array") {
    const std::string body = std::string(200000, '[') + std::string(200000, ']');
    const auto r = parse_webhook(body);
    REQUIRE(r.ok);
    CHECK(has_warning(r.batch, "body: values nested deeper than 64 levels were dropped"));
  }
  SECTION("a deep unknown key inside a real message keeps the message") {
    std::string deep;
    for (int i = 0; i < 5000; ++i) deep += "{\"k\":";
    deep += "1";
    deep += std::string(5000, '}');
    std::string body = read_bytes(whatsapp_dir() / "payloads" / "01-text.json");
    const std::string anchor = "\"type\":\"text\",";
    const auto pos = body.find(anchor);
    REQUIRE(pos != std::string::npos);
    body.insert(pos, "\"unknown_deep\":" + deep + ",");
    const auto r = parse_webhook(body);
    REQUIRE(r.ok);
    REQUIRE(r.batch.messages.size() == 1);
    CHECK(r.batch.messages[0].msg["text"] == "Hola, quiero cotizar un seguro de vida");
    CHECK(r.batch.messages[0].msg["raw"].dump().size() < 2000);  // copied and dumped safely
  }
}

TEST_CASE("large batches parse completely and warnings are capped", "[webhook]") {
  json messages = json::array();
  for (int i = 0; i < 5000; ++i) messages.push_back(text_message("wamid." + std::to_string(i)));
  for (int i = 0; i < 1000; ++i) messages.push_back(json::object());  // all missing id
  const std::string body = body_with(value_with(messages)).dump();
  const auto start = std::chrono::steady_clock::now();
  const auto r = parse_webhook(body);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE(r.ok);
  CHECK(r.batch.messages.size() == 5000);
  CHECK(r.batch.messages[4999].id == "wamid.4999");
  CHECK(r.batch.warnings.size() == 101);
  CHECK(r.batch.warnings.back() == "900 more warnings not shown");
  CHECK(elapsed < std::chrono::seconds(5));
}

TEST_CASE("a wide array of tiny objects parses in linear time", "[webhook]") {
  // nlohmann's callback parser is quadratic here; ours must not be.
  std::string body = "{\"entry\":[";
  for (int i = 0; i < 300000; ++i) body += i ? ",{}" : "{}";
  body += "]}";
  const auto start = std::chrono::steady_clock::now();
  const auto r = parse_webhook(body);
  CHECK(r.ok);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

TEST_CASE("every payload with any node replaced by any JSON type never crashes", "[webhook][malformed]") {
  const std::vector<json> replacements = {nullptr, 0, -1, 1.5, "x", "", true, json::array(), json::object(),
                                          json::array({1})};
  std::size_t parses = 0;
  for (const auto& path : files_in(whatsapp_dir() / "payloads", ".json")) {
    const json original = json::parse(read_bytes(path));
    const json flat = original.flatten();
    // Every leaf and every container on the way to it.
    std::set<std::string> pointers;
    for (const auto& [pointer, leaf] : flat.items()) {
      std::string p = pointer;
      while (!p.empty()) {
        pointers.insert(p);
        p = p.substr(0, p.rfind('/'));
      }
    }
    for (const auto& pointer : pointers) {
      for (const auto& replacement : replacements) {
        json mutated = original;
        mutated[json::json_pointer(pointer)] = replacement;
        const auto r = parse_webhook(mutated.dump());
        REQUIRE(r.ok);
        for (const auto& m : r.batch.messages) {
          CHECK_FALSE(m.id.empty());
          CHECK_FALSE(m.user.empty());
        }
        ++parses;
      }
    }
  }
  CHECK(parses > 1000);
}
