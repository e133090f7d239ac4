// The `events` rows: which webhooks get an event (globs), the stored encoding and the
// POST body a receiver reads.
#include "runtime/event_log.hpp"

#include <catch2/catch.hpp>

using namespace charla::runtime;
using nlohmann::json;

TEST_CASE("event filters are globs on '*'", "[runtime][events]") {
  CHECK(event_pattern_matches("lead.*", "lead.qualified"));
  CHECK(event_pattern_matches("lead.*", "lead."));
  CHECK_FALSE(event_pattern_matches("lead.*", "leads.qualified"));
  CHECK_FALSE(event_pattern_matches("lead.*", "handoff.started"));
  CHECK(event_pattern_matches("*", "anything.at.all"));
  CHECK(event_pattern_matches("handoff.started", "handoff.started"));
  CHECK_FALSE(event_pattern_matches("handoff.started", "handoff.started2"));
  CHECK(event_pattern_matches("*.started", "conversation.started"));
  CHECK(event_pattern_matches("a*b*c", "axxbyyc"));
  CHECK_FALSE(event_pattern_matches("a*b*c", "axxbyy"));
}

TEST_CASE("no webhook, no rows; one row per matching webhook, sharing the event id", "[runtime][events]") {
  CHECK(EventLog().rows("lead.qualified", "k", "p", 1, json::object()).empty());
  EventLog log({{"http://a", {}}, {"http://b", {"handoff.*"}}, {"http://c", {"lead.*", "x"}}});
  auto rows = log.rows("lead.qualified", "whatsapp:1:555", "555", 1'796'415'673'774, {{"score", 9}});
  REQUIRE(rows.size() == 2);
  auto a = EventRecord::from_json(1, rows[0]);
  auto c = EventRecord::from_json(2, rows[1]);
  REQUIRE(a);
  REQUIRE(c);
  CHECK(a->webhook == "http://a");
  CHECK(c->webhook == "http://c");
  CHECK(a->id == c->id);
  CHECK(a->id.size() == 36);
  CHECK(a->id.rfind("evt_", 0) == 0);
  CHECK(a->status == "pending");
  CHECK(a->attempts == 0);
  // A second event gets another id.
  auto other = EventRecord::from_json(3, log.rows("lead.qualified", "k", "p", 1, {})[0]);
  CHECK(other->id != a->id);
  CHECK(other->payload == json::object());
}

TEST_CASE("the POST body has exactly the documented fields", "[runtime][events]") {
  EventRecord r;
  r.id = "evt_1";
  r.name = "lead.qualified";
  r.conversation = "whatsapp:1:555";
  r.phone = "555";
  r.time_ms = 1'796'415'673'774;
  r.payload = {{"score", 9}};
  r.webhook = "http://a";
  r.attempts = 2;
  r.last_error = "HTTP 503";
  CHECK(json::parse(r.body()) == json{{"id", "evt_1"},
                                      {"name", "lead.qualified"},
                                      {"conversation", "whatsapp:1:555"},
                                      {"phone", "555"},
                                      {"time", "2026-12-04T20:21:13.774Z"},
                                      {"payload", {{"score", 9}}}});
  auto back = EventRecord::from_json(7, r.to_json().dump());
  REQUIRE(back);
  CHECK(back->seq == 7);
  CHECK(back->attempts == 2);
  CHECK(back->last_error == "HTTP 503");
  CHECK(back->body() == r.body());
  CHECK_FALSE(EventRecord::from_json(1, "not json"));
  CHECK_FALSE(EventRecord::from_json(1, R"({"name":"x"})"));
}
