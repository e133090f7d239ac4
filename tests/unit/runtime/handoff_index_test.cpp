// The handoff index (runtime/handoff_index.hpp): GET /admin/handoffs and the
// charla_handoffs_waiting gauge read the `paused` db, so every way a conversation is
// paused or stops being paused must keep it right, and a data dir from before the
// index must list the same queue after its first start.
#include "runtime/conversation.hpp"
#include "runtime/handoff_index.hpp"
#include "runtime/handoffs.hpp"
#include "runtime_fixture.hpp"

#include <catch2/catch.hpp>

#include <future>

using namespace charla;
using namespace charla::testing;
using nlohmann::json;

namespace {

const char* kDesk = R"(
return {
  name = "desk", initial = "A",
  states = {
    A = {
      message = function(ctx, msg)
        if msg.text == "humano" then
          ctx:say("te paso")
          ctx:handoff("pidió humano")
          return
        end
        ctx:say("A: " .. msg.text)
      end,
    },
  },
}
)";

struct Desk : EngineRig {
  Desk() : EngineRig(kDesk) { engine->start(); }
  void say(const std::string& user, const std::string& text) {
    auto n = channel.count();
    REQUIRE(accept_all(*engine, {text_event(user, text)}).error.empty());
    REQUIRE(channel.wait_for(n + 1, std::chrono::seconds(10)));
  }
  unsigned act(const std::function<void(runtime::Engine::ConversationDone)>& action) {
    std::promise<unsigned> answer;
    action([&](unsigned status, const std::string&, const runtime::Conversation*) { answer.set_value(status); });
    auto f = answer.get_future();
    REQUIRE(f.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    return f.get();
  }
  unsigned reset(const std::string& user) {
    std::promise<unsigned> answer;
    engine->reset_conversation(key(user), [&](unsigned status, const std::string&) { answer.set_value(status); });
    auto f = answer.get_future();
    REQUIRE(f.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    return f.get();
  }
  bool indexed(const std::string& user) { return store->read().get(store::Db::paused, key(user)).has_value(); }
  std::vector<std::string> queue() {
    std::vector<std::string> keys;
    const auto list = runtime::list_handoffs(store->read(), clock.now_ms());
    for (const auto& h : list["handoffs"]) keys.push_back(h["conversation"]);
    return keys;
  }
  std::size_t waiting() { return runtime::count_handoffs(store->read()); }
};

}  // namespace

TEST_CASE("handoff index: an admin pause is indexed and listed; resume removes it", "[runtime][handoff_index]") {
  Desk d;
  d.say("u1", "hola");
  CHECK_FALSE(d.indexed("u1"));
  REQUIRE(d.act([&](auto done) { d.engine->pause_conversation(Desk::key("u1"), "vip", done); }) == 200);
  CHECK(d.indexed("u1"));
  CHECK(d.queue() == std::vector<std::string>{Desk::key("u1")});
  CHECK(d.waiting() == 1);
  // A message while paused is recorded by a turn commit: it keeps the row.
  d.clock.advance(std::chrono::seconds(5));
  REQUIRE(accept_all(*d.engine, {text_event("u1", "sigo aquí")}).error.empty());
  REQUIRE(eventually([&] { return d.stored("u1")->last_inbound_ms == d.clock.now_ms(); }));
  CHECK(d.indexed("u1"));
  REQUIRE(d.act([&](auto done) { d.engine->resume_conversation(Desk::key("u1"), std::nullopt, done); }) == 200);
  CHECK_FALSE(d.indexed("u1"));
  CHECK(d.queue().empty());
  CHECK(d.waiting() == 0);
}

TEST_CASE("handoff index: a flow's ctx:handoff is listed; a reset removes it", "[runtime][handoff_index]") {
  Desk d;
  d.say("u1", "hola");
  d.say("u2", "humano");
  CHECK(d.indexed("u2"));
  CHECK_FALSE(d.indexed("u1"));
  auto list = runtime::list_handoffs(d.store->read(), d.clock.now_ms());
  REQUIRE(list["count"] == 1);
  CHECK(list["handoffs"][0]["conversation"] == Desk::key("u2"));
  CHECK(list["handoffs"][0]["reason"] == "pidió humano");
  REQUIRE(d.reset("u2") == 200);
  CHECK_FALSE(d.indexed("u2"));
  CHECK(d.queue().empty());
  // A customer who writes again after the reset starts fresh, not in the queue.
  d.say("u2", "hola de nuevo");
  CHECK(d.queue().empty());
}

TEST_CASE("handoff index: a data dir from before the index lists the same queue after it is built",
          "[runtime][handoff_index]") {
  Desk d;
  for (auto u : {"u1", "u2", "u3", "u4"}) d.say(u, "hola");
  d.say("u2", "humano");
  REQUIRE(d.act([&](auto done) { d.engine->pause_conversation(Desk::key("u4"), "vip", done); }) == 200);
  const auto before = runtime::list_handoffs(d.store->read(), d.clock.now_ms());
  REQUIRE(before["count"] == 2);
  d.engine->stop();

  // What an older charla leaves: conversations (two paused), no index rows, no mark.
  d.store->write([](store::WriteTxn& txn) {
    txn.del(store::Db::paused, Desk::key("u2"));
    txn.del(store::Db::paused, Desk::key("u4"));
    txn.del(store::Db::meta, store::kPausedIndexMark);
  });
  CHECK_FALSE(runtime::paused_index_ready(d.store->read()));
  // Unmarked, readers scan the records, so the queue is right even before the build.
  CHECK(runtime::list_handoffs(d.store->read(), d.clock.now_ms()) == before);

  d.make_engine();
  d.engine->start();  // builds the index once
  CHECK(runtime::paused_index_ready(d.store->read()));
  CHECK(d.indexed("u2"));
  CHECK(d.indexed("u4"));
  CHECK(d.store->read().count(store::Db::paused) == 2);
  CHECK(runtime::list_handoffs(d.store->read(), d.clock.now_ms()) == before);
  CHECK(d.waiting() == 2);
}

TEST_CASE("handoff index: rows of conversations no longer paused are dropped by the build", "[runtime][handoff_index]") {
  Desk d;
  d.say("u1", "hola");
  d.engine->stop();
  d.store->write([](store::WriteTxn& txn) {
    txn.put(store::Db::paused, Desk::key("u1"), store::be64(1));  // stale: u1 is not paused
    txn.del(store::Db::meta, store::kPausedIndexMark);
  });
  runtime::ensure_paused_index(*d.store);
  CHECK_FALSE(d.indexed("u1"));
  CHECK(d.queue().empty());
}

TEST_CASE("handoff index: the row commits or aborts with its record (one transaction)", "[runtime][handoff_index]") {
  Desk d;
  runtime::Conversation c;
  c.key = Desk::key("u9");
  c.user = "u9";
  c.flow = "desk";
  c.state = "A";
  c.paused = true;
  c.paused_ms = 42;
  // A write that fails after put_conversation leaves neither: the index never names a
  // record that was not committed, and a kill -9 cannot split them either.
  CHECK_THROWS(d.store->write([&](store::WriteTxn& txn) {
    runtime::put_conversation(txn, c);
    throw std::runtime_error("the rest of the write failed");
  }));
  CHECK_FALSE(d.stored("u9"));
  CHECK_FALSE(d.indexed("u9"));
  d.store->write([&](store::WriteTxn& txn) { runtime::put_conversation(txn, c); });
  CHECK(d.indexed("u9"));
  CHECK(store::from_be64(*d.store->read().get(store::Db::paused, c.key)) == 42);
}
