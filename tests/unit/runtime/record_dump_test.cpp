// The conversation record and the outbox row are written on every turn without building
// their JSON tree (JsonObjectWriter); whatever reads them back (Conversation::from_json,
// the outbox sender, the admin API, older tools) expects what to_json().dump() wrote, so the
// two must agree byte for byte for every field and every awkward string.
#include "runtime/channel.hpp"
#include "runtime/conversation.hpp"

#include <catch2/catch.hpp>

using charla::runtime::Conversation;
using charla::runtime::OutboundRow;
using nlohmann::json;

namespace {

Conversation full_conversation() {
  Conversation c;
  c.key = "whatsapp:123:5491100000000";
  c.channel = "whatsapp";
  c.account = "123";
  c.user = "5491100000000";
  c.name = "José \"Pepe\" Núñez\n\t\\ \x01 \x7f 😀";
  c.flow = "seguros";
  c.flow_version = 7;
  c.state = "COTIZACION";
  c.data = {{"edad", 35}, {"auto", {{"marca", "Fiat"}, {"año", 2019}}}, {"notas", json::array({"a", nullptr, 2.5})}};
  c.handoff_reason = "pidió un humano";
  c.last_inbound_ms = 1796424459208;
  c.created_ms = 1796424000000;
  c.updated_ms = 1796424459999;
  c.timers = {{"__timeout", 1796426259208}, {"recordar \"mañana\"", 1796510859208}};
  c.history_first = 12;
  c.history_next = 62;
  c.turns = 31;
  c.errors = 2;
  return c;
}

}  // namespace

TEST_CASE("the conversation record written field by field is to_json().dump(), byte for byte", "[runtime]") {
  const Conversation empty;
  CHECK(empty.dump() == empty.to_json().dump());

  Conversation c = full_conversation();
  CHECK(c.dump() == c.to_json().dump());

  // The members written only when set.
  c.paused = true;
  c.paused_ms = 1796424460000;
  c.held_timers = {{"recordar", {{"due_ms", 1796426259208}, {"payload", {{"n", 1}}}}}};
  CHECK(c.dump() == c.to_json().dump());

  // What is read back is the same record.
  const Conversation back = Conversation::from_json(c.key, json::parse(c.dump()));
  CHECK(back.to_json() == c.to_json());
}

TEST_CASE("a record with a string that is not UTF-8 is refused as to_json().dump() refuses it", "[runtime]") {
  Conversation c = full_conversation();
  c.name = std::string("Ana \xff\xfe", 6);
  CHECK_THROWS_AS(c.to_json().dump(), json::type_error);
  CHECK_THROWS_AS(c.dump(), json::type_error);
}

TEST_CASE("the outbox row written field by field is to_json().dump(), byte for byte", "[runtime]") {
  OutboundRow row;
  CHECK(row.dump() == row.to_json().dump());
  row.conversation = "whatsapp:123:5491100000000";
  row.channel = "whatsapp";
  row.account = "123";
  row.to = "5491100000000";
  row.message = {{"type", "buttons"}, {"text", "¿Qué plan?\n\"básico\" o \\premium\\"}, {"buttons", json::array({"A", "B"})}};
  row.attempts = 2;
  row.created_ms = 1796424459208;
  CHECK(row.dump() == row.to_json().dump());
  const OutboundRow back = OutboundRow::from_json(9, json::parse(row.dump()));
  CHECK(back.to_json() == row.to_json());
}
