// The inbox row the HTTP thread writes is read back by recovery (InboundEvent::from_json)
// after a crash: dump_without_seq must write exactly what the DOM path wrote, for every
// kind of event and every awkward string a customer or a config can hold.
#include "runtime/event.hpp"

#include <catch2/catch.hpp>

using charla::runtime::InboundEvent;
using nlohmann::json;

namespace {

std::string dom_row(const InboundEvent& e) {
  auto j = e.to_json();
  j.erase("seq");
  return j.dump();
}

InboundEvent message_event() {
  InboundEvent e;
  e.conversation = "whatsapp:123:5491100000000";
  e.channel = "whatsapp";
  e.account = "123";
  e.user = "5491100000000";
  e.name = "José \"Pepe\" Núñez\n\t\\ \x01 😀";
  e.flow = "seguros";
  e.dedup_id = "wamid.HBgN==";
  e.payload = {{"type", "text"}, {"text", "hola\u0000 ¿cómo?"}, {"timestamp", 1733000000}, {"id", "wamid.HBgN=="},
               {"nested", {{"z", 1}, {"a", json::array({1, "dos", nullptr, true, 2.5})}}}};
  e.received_ms = 1796424459208;
  return e;
}

}  // namespace

TEST_CASE("the inbox row is the event's JSON without seq, byte for byte", "[runtime]") {
  auto e = message_event();
  CHECK(e.dump_without_seq() == dom_row(e));

  e.attempts = 3;  // persisted only once non-zero
  CHECK(e.dump_without_seq() == dom_row(e));

  InboundEvent timer;
  timer.kind = InboundEvent::Kind::timer;
  timer.conversation = "console:local:ana";
  timer.payload = {{"name", "recordatorio"}, {"due_ms", 5}, {"payload", json::object()}};
  CHECK(timer.dump_without_seq() == dom_row(timer));

  InboundEvent enter;
  enter.kind = InboundEvent::Kind::enter;
  enter.payload = {{"state", "COTIZACION"}};
  CHECK(enter.dump_without_seq() == dom_row(enter));
}

TEST_CASE("an inbox row with its seq spliced in reads back as the same event", "[runtime]") {
  auto e = message_event();
  e.attempts = 1;
  const auto row = e.dump_without_seq();
  const auto stored = "{\"seq\":42," + row.substr(1);  // as Engine::accept's write does
  auto back = InboundEvent::from_json(json::parse(stored));
  CHECK(back.seq == 42);
  CHECK(back.name == e.name);
  CHECK(back.payload == e.payload);
  CHECK(back.dedup_id == e.dedup_id);
  CHECK(back.received_ms == e.received_ms);
  CHECK(back.attempts == 1);
}
