// Business events: ctx:emit reaches the TurnReport always, and the `events` db only
// when a webhook wants it; engine events are rows of the same commits as their cause.
#include "runtime/conversation.hpp"
#include "runtime/event_log.hpp"
#include "runtime_fixture.hpp"

#include <catch2/catch.hpp>

#include <future>
#include <mutex>

using namespace charla;
using namespace charla::testing;
using nlohmann::json;

namespace {

const char* kLeadFlow = R"(
return {
  name = "leads", initial = "A",
  states = {
    A = { message = function(ctx, msg)
      if msg.text == "boom" then ctx:emit("lead.lost") error("fallo") end
      if msg.text == "humano" then ctx:handoff("pide humano") return end
      ctx:emit("lead.qualified", { text = msg.text })
      ctx:say("ok")
      return "B"
    end },
    B = { message = function(ctx, msg) ctx:emit("lead.again") ctx:say("otra vez") end },
  },
}
)";

struct Harness : EngineRig {
  std::mutex mutex;
  std::vector<runtime::TurnReport> reports;

  explicit Harness(std::vector<runtime::EventSubscription> webhooks)
      : EngineRig(kLeadFlow, {.store = [](store::Store::Options& o) { o.durable = false; },
                              .engine = [&webhooks](runtime::EngineOptions& o) { o.event_webhooks = webhooks; }}) {
    engine->add_turn_observer([this](const runtime::TurnReport& r) {
      std::lock_guard lock(mutex);
      reports.push_back(r);
    });
    engine->start();
  }
  ~Harness() {
    engine->stop();
    store->close();
  }
  void say(const std::string& user, const std::string& text, std::size_t replies_total) {
    static int n = 0;
    accept_all(*engine, {text_event(user, text, "m" + std::to_string(++n))});
    REQUIRE(channel.wait_for(replies_total));
    store->flush();
  }
  std::vector<runtime::EventRecord> rows() {
    std::vector<runtime::EventRecord> out;
    auto txn = store->read();
    txn.scan(store::Db::events, "", [&](std::string_view k, std::string_view v) {
      auto r = runtime::EventRecord::from_json(store::from_be64(k), v);
      REQUIRE(r);
      out.push_back(*r);
      return true;
    });
    return out;
  }
  std::vector<std::string> names() {
    std::vector<std::string> out;
    for (auto& r : rows()) out.push_back(r.name);
    return out;
  }
};

}  // namespace

TEST_CASE("without webhooks ctx:emit reaches the TurnReport and nothing is stored", "[runtime][events]") {
  Harness h(std::vector<runtime::EventSubscription>{});
  h.say("u1", "hola", 1);
  h.say("u1", "más", 2);
  CHECK(h.rows().empty());
  // Observers run after the channel got the replies.
  REQUIRE(eventually([&] {
    std::lock_guard lock(h.mutex);
    return h.reports.size() == 2;
  }));
  std::lock_guard lock(h.mutex);
  REQUIRE(h.reports[0].emitted.size() == 1);
  CHECK(h.reports[0].emitted[0].name == "lead.qualified");
  CHECK(h.reports[0].emitted[0].payload == json{{"text", "hola"}});
  REQUIRE(h.reports[1].emitted.size() == 1);
  CHECK(h.reports[1].emitted[0].name == "lead.again");
}

TEST_CASE("a turn's events are stored in order, one row per matching webhook", "[runtime][events]") {
  Harness h(std::vector<runtime::EventSubscription>{{"http://crm/all", {}}, {"http://desk/leads", {"lead.*"}}});
  h.say("u1", "hola", 1);
  auto rows = h.rows();
  std::vector<std::pair<std::string, std::string>> got;
  for (auto& r : rows) got.emplace_back(r.name, r.webhook);
  CHECK(got == std::vector<std::pair<std::string, std::string>>{{"conversation.started", "http://crm/all"},
                                                                {"lead.qualified", "http://crm/all"},
                                                                {"lead.qualified", "http://desk/leads"},
                                                                {"state.changed", "http://crm/all"}});
  REQUIRE(rows.size() == 4);
  CHECK(rows[1].id == rows[2].id);  // one event, one id on every webhook
  CHECK(rows[0].id != rows[1].id);
  CHECK(rows[3].payload == json{{"flow", "leads"}, {"from", nullptr}, {"to", "B"}});
  for (auto& r : rows) {
    CHECK(r.conversation == runtime::conversation_key("test", "acct", "u1"));
    CHECK(r.phone == "u1");
    CHECK(r.status == "pending");
    CHECK(r.seq > 0);
  }
}

TEST_CASE("a failed turn stores no events; a handoff and a reset do", "[runtime][events]") {
  Harness h(std::vector<runtime::EventSubscription>{{"http://crm/all", {}}});
  h.say("u2", "boom", 1);  // the fallback reply; ctx:emit before the error is dropped
  CHECK(h.names().empty());
  h.say("u3", "humano", 1);  // no reply: wait for the report instead
  CHECK(eventually([&] { return h.names().size() == 3; }));
  CHECK(h.names() == std::vector<std::string>{"conversation.started", "state.changed", "handoff.started"});
  CHECK(h.rows()[2].payload == json{{"reason", "pide humano"}, {"state", "A"}});
  std::promise<unsigned> reset;
  h.engine->reset_conversation(runtime::conversation_key("test", "acct", "u3"),
                               [&](unsigned status, const std::string&) { reset.set_value(status); });
  REQUIRE(reset.get_future().get() == 200);
  auto rows = h.rows();
  REQUIRE(rows.size() == 4);
  CHECK(rows[3].name == "conversation.reset");
  CHECK(rows[3].phone == "u3");
  CHECK(rows[3].payload == json{{"state", "A"}});
}
