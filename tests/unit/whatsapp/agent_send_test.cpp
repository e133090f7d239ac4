// AgentSend with a manual clock: the 24 h customer-service window closes free-form
// sends (templates still go), and an Idempotency-Key is honoured for 24 h, then expires.
#include "runtime/conversation.hpp"
#include "support/temp_dir.hpp"
#include "whatsapp/agent_send.hpp"
#include "whatsapp/protocol/webhook_parser.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <thread>

using namespace std::chrono_literals;
using nlohmann::json;
namespace runtime = charla::runtime;
namespace store = charla::store;
namespace whatsapp = charla::whatsapp;

namespace {

const char* kEcho = R"(
return { name = "eco", initial = "A", states = { A = { message = function(ctx, msg) ctx:say("eco") end } } }
)";
const std::string kNumber = "111", kUser = "56912345678";

struct Fixture {
  charla::test::TempDir dir;
  std::unique_ptr<store::Store> store;
  runtime::ManualClock clock;
  charla::config::WhatsAppConfig wa;
  std::unique_ptr<runtime::Engine> engine;
  std::unique_ptr<whatsapp::OutboxSender> sender;
  std::unique_ptr<whatsapp::AgentSend> agent;
  const std::string key = whatsapp::conversation_key(kNumber, kUser);

  Fixture() {
    store::Store::Options so;
    so.dir = dir.path() / "data";
    so.durable = false;
    store = store::Store::open(so);
    runtime::EngineOptions eo;
    eo.workers = 1;
    eo.flows = {dir.write("eco.lua", kEcho)};
    eo.timer_tick = 0ms;
    engine = std::make_unique<runtime::Engine>(eo, *store, clock);
    wa.sink = true;  // rows are marked sink, nothing leaves the process
    wa.numbers.push_back({kNumber, "", "token", "secret", 80, ""});
    sender = std::make_unique<whatsapp::OutboxSender>(wa, *store, *engine);
    engine->add_channel(*sender);
    agent = std::make_unique<whatsapp::AgentSend>(*engine, *sender, wa, 50);
    engine->start();
  }
  ~Fixture() {
    sender->stop();
    engine->stop();
  }

  void customer_writes() {
    runtime::InboundEvent e;
    e.channel = "whatsapp";
    e.account = kNumber;
    e.user = kUser;
    e.conversation = key;
    e.dedup_id = "wamid." + std::to_string(clock.now_ms());
    e.payload = {{"id", e.dedup_id}, {"type", "text"}, {"text", "hola"}, {"from", kUser}};
    std::promise<void> accepted;
    engine->accept({e}, [&](const runtime::AcceptResult&) { accepted.set_value(); });
    accepted.get_future().wait();
    const auto now = clock.now_ms();
    for (int i = 0; i < 2000 && last_inbound() != now; ++i) std::this_thread::sleep_for(5ms);
    REQUIRE(last_inbound() == now);
  }
  std::int64_t last_inbound() {
    auto raw = store->read().get(store::Db::conv, key);
    return raw ? json::parse(*raw).value("last_inbound_ms", std::int64_t{0}) : 0;
  }
  whatsapp::SendOutcome send(json message, std::string idempotency_key = {}) {
    whatsapp::SendRequest r;
    r.to = kUser;
    r.message = std::move(message);
    r.idempotency_key = std::move(idempotency_key);
    std::promise<whatsapp::SendOutcome> done;
    agent->send(r, [&](whatsapp::SendOutcome o) { done.set_value(std::move(o)); });
    return done.get_future().get();
  }
};

const json kText = {{"type", "text"}, {"text", "Hola, soy Ana"}};
const json kTemplate = {{"type", "template"}, {"name", "recordatorio"}, {"language", "es"}};

}  // namespace

TEST_CASE("the 24 h window: open after the customer writes, closed a millisecond after 24 h; templates always go",
          "[agent_send]") {
  Fixture f;
  CHECK(f.send(kText).body["error"] == "window_closed");  // never wrote
  f.customer_writes();
  f.clock.advance(24h);
  auto open = f.send(kText);
  CHECK(open.status == 200);
  CHECK(open.body["status"] == "queued");
  f.clock.advance(1ms);
  auto closed = f.send(kText);
  CHECK(closed.status == 409);
  CHECK(closed.body["error"] == "window_closed");
  CHECK_THAT(closed.body["message"].get<std::string>(), Catch::Contains("use a template"));
  CHECK(f.send(kTemplate).status == 200);
}

TEST_CASE("an idempotency key returns the first answer for 24 h, then sends again", "[agent_send]") {
  Fixture f;
  auto first = f.send(kTemplate, "k1");
  REQUIRE(first.status == 200);
  f.clock.advance(23h);
  auto again = f.send(kTemplate, "k1");
  CHECK(again.body == first.body);
  f.clock.advance(1h + 1ms);
  auto later = f.send(kTemplate, "k1");
  REQUIRE(later.status == 200);
  CHECK(later.body["id"] != first.body["id"]);
  CHECK(f.send(kTemplate, "k1").body == later.body);  // the new answer is the one kept now
  std::size_t rows = 0;
  f.store->read().scan(store::Db::outbox, "", [&](std::string_view, std::string_view) {
    ++rows;
    return true;
  });
  CHECK(rows == 2);
}
