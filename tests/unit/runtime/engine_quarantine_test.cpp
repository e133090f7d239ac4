// Bad stored data and poison messages: an unreadable conversation record or inbox row,
// or an inbox entry whose turn keeps stopping the process, is set aside in the
// quarantine (logged, counted, listed); every other conversation keeps answering, and
// nothing is lost: an operator retries or resets it.
#include "runtime/conversation.hpp"
#include "runtime/quarantine.hpp"
#include "runtime_fixture.hpp"
#include "support/fake_llm.hpp"

#include <catch2/catch.hpp>

#include <future>

using namespace charla;
using namespace charla::testing;
using nlohmann::json;

namespace {

const char* kEcho = R"(
return {
  name = "echo", initial = "A",
  states = {
    A = { message = function(ctx, msg) ctx:say("eco " .. msg.text) end },
  },
}
)";

struct Harness : EngineRig {
  Harness() : EngineRig(kEcho, {.store = {}, .engine = [](runtime::EngineOptions& o) { o.inbox_max_attempts = 3; }}) {}
  // An inbox entry as a previous process left it; `attempts` recovered runs already made.
  std::uint64_t leave_in_inbox(const std::string& user, const std::string& text, std::uint64_t attempts = 0) {
    std::uint64_t seq = 0;
    store->write([&](store::WriteTxn& txn) {
      auto e = text_event(user, text);
      e.seq = seq = txn.next_seq("inbox");
      e.attempts = attempts;
      txn.put(store::Db::inbox, store::be64(seq), e.to_json().dump());
    });
    return seq;
  }
  bool inbox_has(std::uint64_t seq) { return store->read().get(store::Db::inbox, store::be64(seq)).has_value(); }
  json quarantine() { return engine->quarantine(); }
  std::pair<unsigned, std::string> admin(void (runtime::Engine::*op)(const std::string&, runtime::Engine::AdminDone),
                                         const std::string& id) {
    std::promise<std::pair<unsigned, std::string>> p;
    (engine.get()->*op)(id, [&](unsigned status, const std::string& m) { p.set_value({status, m}); });
    auto f = p.get_future();
    REQUIRE(f.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    return f.get();
  }
};

}  // namespace

TEST_CASE("a conversation whose stored record is unreadable is set aside; the others keep answering") {
  Harness h;
  h.store->write([&](store::WriteTxn& txn) {
    txn.put(store::Db::conv, Harness::key("ana"), "{\"state\": \"A\", \"data\": {tru");   // torn JSON
    txn.put(store::Db::conv, Harness::key("bea"), R"({"state": 7, "data": [1], "v": 99})");  // foreign version
  });
  h.engine->start();
  auto r = accept_all(*h.engine, {text_event("ana", "hola", "w1"), text_event("bea", "hola", "w2"),
                                  text_event("carla", "hola", "w3")});
  REQUIRE(r.error.empty());
  REQUIRE(h.channel.wait_for(1, std::chrono::seconds(10)));
  CHECK(h.texts("carla") == std::vector<std::string>{"eco hola"});
  REQUIRE(eventually([&] { return h.quarantine().size() == 2; }));
  CHECK(h.texts("ana").empty());
  CHECK(h.texts("bea").empty());
  CHECK(h.engine->running());

  auto q = h.quarantine();
  CHECK(q[0]["id"] == "conversation:" + Harness::key("ana"));
  CHECK(q[0]["kind"] == "conversation");
  CHECK(q[0]["reason"].get<std::string>().find("unreadable") != std::string::npos);
  auto stats = h.engine->stats();
  CHECK(stats.corrupt_rows >= 2);
  CHECK(stats.quarantined_conversations == 2);
  CHECK(r.seqs.size() == 3);
  CHECK(h.inbox_has(r.seqs[0]));  // ana's message is kept, not lost

  // Later messages of a quarantined conversation wait too; the worker still serves others.
  accept_all(*h.engine, {text_event("ana", "otra", "w4"), text_event("carla", "sigo", "w5")});
  REQUIRE(h.channel.wait_for(2));
  CHECK(h.texts("ana").empty());

  // A reset deletes the unreadable record: the held messages run, in order, on a fresh one.
  auto reset = std::make_shared<std::promise<unsigned>>();
  h.engine->reset_conversation(Harness::key("ana"), [reset](unsigned s, const std::string&) { reset->set_value(s); });
  CHECK(reset->get_future().get() == 200);
  REQUIRE(h.channel.wait_for(4));
  CHECK(h.texts("ana") == std::vector<std::string>{"eco hola", "eco otra"});
  CHECK(h.quarantine().size() == 1);
  CHECK_FALSE(h.inbox_has(r.seqs[0]));
}

TEST_CASE("an unreadable inbox row is moved to the quarantine with its bytes; the rest of the inbox runs") {
  Harness h;
  std::uint64_t bad = 0;
  h.store->write([&](store::WriteTxn& txn) {
    bad = txn.next_seq("inbox");
    txn.put(store::Db::inbox, store::be64(bad), std::string("{\"kind\":\xff\xfe", 10));
  });
  h.leave_in_inbox("dora", "hola");
  h.engine->start();
  REQUIRE(h.channel.wait_for(1));
  CHECK(h.texts("dora") == std::vector<std::string>{"eco hola"});
  CHECK_FALSE(h.inbox_has(bad));
  auto q = h.quarantine();
  REQUIRE(q.size() == 1);
  CHECK(q[0]["id"] == "message:" + std::to_string(bad));
  CHECK(q[0]["raw_hex"] == "7b226b696e64223afffe");
  CHECK(q[0]["retryable"] == false);
  CHECK(h.engine->stats().corrupt_rows == 1);
  CHECK(h.admin(&runtime::Engine::retry_quarantined, "message:" + std::to_string(bad)).first == 409);
  CHECK(h.admin(&runtime::Engine::delete_quarantined, "message:" + std::to_string(bad)).first == 200);
  CHECK(h.quarantine().empty());
}

TEST_CASE("an inbox entry interrupted on every attempt is quarantined; its conversation goes on; retry runs it") {
  Harness h;
  // The first run and two recovered runs never finished: this start would be the fourth run.
  auto poison = h.leave_in_inbox("eva", "veneno", 2);
  auto after = h.leave_in_inbox("eva", "siguiente");
  auto once = h.leave_in_inbox("fede", "hola", 1);  // interrupted twice: runs once more
  h.engine->start();
  REQUIRE(h.channel.wait_for(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(h.texts("eva") == std::vector<std::string>{"eco siguiente"});
  CHECK(h.texts("fede") == std::vector<std::string>{"eco hola"});
  CHECK_FALSE(h.inbox_has(poison));
  CHECK_FALSE(h.inbox_has(after));
  CHECK_FALSE(h.inbox_has(once));
  auto q = h.quarantine();
  REQUIRE(q.size() == 1);
  CHECK(q[0]["id"] == "message:" + std::to_string(poison));
  CHECK(q[0]["conversation"] == Harness::key("eva"));
  CHECK(q[0]["retryable"] == true);
  CHECK(q[0]["event"]["payload"]["text"] == "veneno");
  CHECK(h.engine->stats().quarantined_messages == 1);

  CHECK(h.admin(&runtime::Engine::retry_quarantined, "message:" + std::to_string(poison)).first == 200);
  REQUIRE(h.channel.wait_for(3));
  CHECK(h.texts("eva") == std::vector<std::string>{"eco siguiente", "eco veneno"});
  CHECK(h.quarantine().empty());
  REQUIRE(eventually([&] { return !h.inbox_has(poison); }));
  CHECK(h.admin(&runtime::Engine::retry_quarantined, "message:" + std::to_string(poison)).first == 404);
  CHECK(h.admin(&runtime::Engine::retry_quarantined, "bogus").first == 400);
}

TEST_CASE("a recovered run is counted before it runs; one cancelled by a graceful stop does not count") {
  charla::test::FakeLlm llm;
  llm.set_default(charla::test::LlmStep::hang());
  TempDir dir;
  auto flow = dir.write("ask.lua", R"(
return { name = "ask", initial = "A",
  states = { A = { message = function(ctx, msg)
    local answer, err = ctx:llm{ prompt = msg.text }
    ctx:say("IA: " .. tostring(answer or err.code))
  end } } }
)");
  store::Store::Options so;
  so.dir = dir.path() / "data";
  auto store = store::Store::open(so);
  runtime::ManualClock clock;
  RecordingChannel channel;
  channel.mark_delivered_in(*store);
  auto make_engine = [&] {
    runtime::EngineOptions options;
    options.workers = 1;
    options.flows = {flow};
    options.timer_tick = std::chrono::milliseconds(0);
    options.inbox_max_attempts = 3;
    options.plugins = {{"llm", {{"base_url", llm.base_url()}, {"model", "m"}, {"timeout_ms", 60000}, {"max_retries", 0}}}};
    auto e = std::make_unique<runtime::Engine>(options, *store, clock);
    e->add_channel(channel);
    return e;
  };
  std::uint64_t seq = 0;
  store->write([&](store::WriteTxn& txn) {  // interrupted twice already: its first run and one recovered run
    auto e = text_event("hugo", "pregunta");
    e.seq = seq = txn.next_seq("inbox");
    e.attempts = 1;
    txn.put(store::Db::inbox, store::be64(seq), e.to_json().dump());
  });
  auto inbox_row = [&] {
    auto raw = store->read().get(store::Db::inbox, store::be64(seq));
    return raw ? json::parse(*raw) : json();
  };
  auto engine = make_engine();
  engine->start();
  REQUIRE(eventually([&] { return engine->stats().suspended_turns == 1; }));
  CHECK(inbox_row()["attempts"] == 2);  // durable before the turn ran
  engine->stop();                       // graceful: cancels the suspended turn
  CHECK(inbox_row()["clean_stops"] == 1);

  llm.set_default(charla::test::LlmStep::reply("hola"));
  engine = make_engine();
  engine->start();  // 2 recovered runs + the first, 1 cancelled: 2 failures, under 3
  REQUIRE(channel.wait_for(1));
  CHECK(channel.texts(Harness::key("hugo")) == std::vector<std::string>{"IA: hola"});
  CHECK(engine->quarantine().empty());
  engine->stop();
}

TEST_CASE("an exception in an operation run on a worker is logged and counted; the worker keeps serving") {
  Harness h;
  h.engine->start();
  h.engine->with_conversation(Harness::key("ines"), [] { throw std::runtime_error("a bug in an admin task"); });
  accept_all(*h.engine, {text_event("ines", "hola", "w1"), text_event("juan", "hola", "w2")});
  REQUIRE(h.channel.wait_for(2));
  CHECK(h.texts("ines") == std::vector<std::string>{"eco hola"});
  CHECK(h.engine->stats().loop_exceptions == 1);
}
