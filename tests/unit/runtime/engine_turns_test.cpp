// Turn semantics the runtime adds around the Lua host: fallback on failure with the
// state unchanged, durable timers on a fake clock, recovery of unfinished inbox
// entries, double-text merging, what the conversation history records.
#include "runtime/conversation.hpp"
#include "runtime_fixture.hpp"

#include <catch2/catch.hpp>

#include <future>

using namespace charla;
using namespace charla::testing;
using nlohmann::json;

namespace {

struct Harness : EngineRig {
  explicit Harness(const std::string& flow_text)
      : EngineRig(flow_text, {.store = {}, .engine = [](runtime::EngineOptions& o) { o.host.instruction_budget = 100'000; }}) {}
  void restart() {
    engine->stop();
    make_engine();
    engine->start();
  }
  runtime::Conversation conversation(const std::string& user) {
    auto c = stored(user);
    REQUIRE(c);
    return *c;
  }
};

const char* kTwoStates = R"(
return {
  name = "two", initial = "A",
  fallback = "Lo siento, tuve un problema.",
  states = {
    A = {
      enter = function(ctx) ctx:say("en A") end,
      message = function(ctx, msg)
        if msg.text == "boom" then error("fallo a propósito") end
        if msg.text == "loop" then while true do end end
        if msg.text == "b" then return "B" end
        ctx:say("sigo en A")
      end,
    },
    B = {
      enter = function(ctx) ctx:say("en B") ctx:after("10m", "recordar", { n = 1 }) end,
      message = function(ctx, msg) if msg.text == "cancelar" then ctx:cancel("recordar") end end,
      timeout = { after = "30m", run = function(ctx) ctx:say("¿sigues ahí?") end },
      timers = { recordar = function(ctx, payload) ctx:say("recordatorio " .. payload.n) end },
    },
  },
}
)";

}  // namespace

TEST_CASE("a failing turn sends the fallback and leaves state and data unchanged; other turns go on") {
  Harness h(kTwoStates);
  h.engine->start();
  accept_all(*h.engine, {text_event("ana", "hola")});
  REQUIRE(h.channel.wait_for(2));
  auto before = h.conversation("ana");
  CHECK(before.state == "A");

  accept_all(*h.engine, {text_event("ana", "boom"), text_event("beto", "hola")});
  REQUIRE(h.channel.wait_for(5));
  CHECK(h.texts("ana").back() == "Lo siento, tuve un problema.");
  CHECK(h.conversation("ana").state == "A");
  CHECK(h.conversation("ana").errors == 1);
  CHECK(h.texts("beto") == std::vector<std::string>{"en A", "sigo en A"});

  accept_all(*h.engine, {text_event("ana", "loop")});
  REQUIRE(h.channel.wait_for(6));
  CHECK(h.texts("ana").back() == "Lo siento, tuve un problema.");
  accept_all(*h.engine, {text_event("ana", "b")});
  REQUIRE(h.channel.wait_for(7));
  CHECK(h.conversation("ana").state == "B");
  CHECK(h.engine->stats().turn_errors == 2);
}

TEST_CASE("timers are durable rows that fire on the fake clock, once, and survive a restart") {
  Harness h(kTwoStates);
  h.engine->start();
  accept_all(*h.engine, {text_event("ana", "hola"), text_event("ana", "b")});
  REQUIRE(h.channel.wait_for(3));
  REQUIRE(eventually([&] { return h.conversation("ana").state == "B"; }));
  auto conv = h.conversation("ana");
  CHECK(conv.timers.count("recordar") == 1);
  CHECK(conv.timers.count("__timeout") == 1);

  h.engine->tick_timers();  // nothing due yet
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(h.texts("ana").size() == 3);

  h.clock.advance(std::chrono::minutes(11));
  h.restart();  // the due timer fires at startup
  REQUIRE(h.channel.wait_for(4));
  CHECK(h.texts("ana").back() == "recordatorio 1");
  h.engine->tick_timers();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(h.texts("ana").size() == 4);  // fired once

  h.clock.advance(std::chrono::minutes(20));  // 31 min after entering B
  h.engine->tick_timers();
  REQUIRE(h.channel.wait_for(5));
  CHECK(h.texts("ana").back() == "¿sigues ahí?");
  REQUIRE(eventually([&] { return h.conversation("ana").timers.empty(); }));
}

TEST_CASE("a message re-arms the state timeout and ctx:cancel removes a timer") {
  Harness h(kTwoStates);
  h.engine->start();
  accept_all(*h.engine, {text_event("ana", "b")});
  REQUIRE(h.channel.wait_for(2));
  REQUIRE(eventually([&] { return h.conversation("ana").timers.size() == 2; }));
  auto first_due = h.conversation("ana").timers.at("__timeout");
  h.clock.advance(std::chrono::minutes(5));
  accept_all(*h.engine, {text_event("ana", "cancelar")});
  REQUIRE(eventually([&] { return h.conversation("ana").timers.size() == 1; }));
  auto conv = h.conversation("ana");
  CHECK(conv.timers.count("recordar") == 0);
  CHECK(conv.timers.at("__timeout") == first_due + 5 * 60 * 1000);
  h.clock.advance(std::chrono::minutes(12));
  h.engine->tick_timers();
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  CHECK(h.texts("ana").size() == 2);  // the cancelled reminder never fires
}

TEST_CASE("inbox entries left by a crash run at startup, in order, exactly once") {
  Harness h(kTwoStates);
  // What a process that crashed after acknowledging, before running the turns, leaves behind.
  h.store->write([&](store::WriteTxn& txn) {
    for (auto text : {"hola", "uno", "b"}) {
      auto e = text_event("ana", text);
      e.seq = txn.next_seq("inbox");
      txn.put(store::Db::inbox, store::be64(e.seq), e.to_json().dump());
    }
  });
  h.engine->start();
  REQUIRE(h.channel.wait_for(4));
  CHECK(h.texts("ana") == std::vector<std::string>{"en A", "sigo en A", "sigo en A", "en B"});
  REQUIRE(eventually([&] {
    bool empty = true;
    h.store->read().scan(store::Db::inbox, "", [&](auto, auto) { return empty = false; });
    return empty;
  }));
  h.restart();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(h.texts("ana").size() == 4);
}

TEST_CASE("double texting: texts within the debounce window become one turn") {
  Harness h(R"(
return {
  name = "merge", initial = "S", double_text = { debounce_ms = 300 },
  states = { S = { message = function(ctx, msg) ctx:say("[" .. msg.text .. "]") end } },
}
)");
  h.engine->start();
  h.clock.set(runtime::SystemClock().now_ms());  // the window is measured on the clock
  accept_all(*h.engine, {text_event("ana", "hola")});
  accept_all(*h.engine, {text_event("ana", "quiero")});
  accept_all(*h.engine, {text_event("ana", "un seguro")});
  REQUIRE(h.channel.wait_for(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  CHECK(h.texts("ana") == std::vector<std::string>{"[hola\nquiero\nun seguro]"});
}

TEST_CASE("dedup rows older than the retention window are pruned; newer ones still stop redeliveries") {
  Harness h(kTwoStates);
  h.engine->start();
  REQUIRE(accept_all(*h.engine, {text_event("ana", "hola", "wamid.viejo")}).duplicates == 0);
  h.clock.advance(std::chrono::hours(100));
  REQUIRE(accept_all(*h.engine, {text_event("bea", "hola", "wamid.nuevo")}).duplicates == 0);
  h.clock.advance(std::chrono::hours(100));  // viejo is 200 h old, nuevo 100 h: retention is 168 h

  std::promise<runtime::SeenPruneResult> pruned;
  h.engine->prune_seen([&](const runtime::SeenPruneResult& r) { pruned.set_value(r); });
  auto result = pruned.get_future().get();
  CHECK(result.error.empty());
  CHECK(result.visited == 2);
  CHECK(result.pruned == 1);
  CHECK_FALSE(h.store->read().get(store::Db::seen, "test:wamid.viejo"));
  CHECK(accept_all(*h.engine, {text_event("bea", "hola", "wamid.nuevo")}).duplicates == 1);
}

TEST_CASE("read receipts and reactions are sent but stay out of the history and the transcript") {
  Harness h(R"(
return {
  name = "receipts", initial = "S",
  states = { S = { message = function(ctx, msg)
    if msg.text == "resumen" then ctx:say(ctx:transcript()) return end
    ctx:mark_read()
    ctx:react("👍")
    ctx:say("recibido")
  end } },
}
)");
  h.engine->start();
  accept_all(*h.engine, {text_event("ana", "hola", "wamid.1")});
  REQUIRE(h.channel.wait_for(3));  // receipt, reaction and reply all reach the channel
  accept_all(*h.engine, {text_event("ana", "resumen", "wamid.2")});
  REQUIRE(h.channel.wait_for(4));
  CHECK(h.texts("ana").back() == "Cliente: hola\nAsistente: recibido");

  h.restart();  // the history read back from the store, not the worker's cache
  accept_all(*h.engine, {text_event("ana", "resumen", "wamid.3")});
  REQUIRE(h.channel.wait_for(5));
  CHECK(h.texts("ana").back() == "Cliente: hola\nAsistente: recibido\nCliente: resumen\n"
                                 "Asistente: Cliente: hola\nAsistente: recibido");
}

TEST_CASE("the history a turn sees keeps the last history_limit entries, from the cache and from the store alike") {
  EngineRig h(R"(
return {
  name = "recent", initial = "S",
  states = { S = { message = function(ctx, msg)
    local texts = {}
    for _, e in ipairs(ctx:history()) do texts[#texts + 1] = e.text end
    ctx:say(msg.text .. "<" .. table.concat(texts, ","))
  end } },
}
)",
              {.store = {}, .engine = [](runtime::EngineOptions& o) { o.history_limit = 3; }});
  h.engine->start();
  // Each turn adds two entries (the message and the reply), so the limit cuts inside a turn's pair.
  accept_all(*h.engine, {text_event("ana", "a", "wamid.1")});
  REQUIRE(h.channel.wait_for(1));
  accept_all(*h.engine, {text_event("ana", "b", "wamid.2")});
  REQUIRE(h.channel.wait_for(2));
  accept_all(*h.engine, {text_event("ana", "c", "wamid.3")});
  REQUIRE(h.channel.wait_for(3));
  CHECK(h.texts("ana") == std::vector<std::string>{"a<", "b<a,a<", "c<a<,b,b<a,a<"});

  h.engine->stop();  // the history read back from the store, not the worker's cache
  h.make_engine();
  h.engine->start();
  accept_all(*h.engine, {text_event("ana", "d", "wamid.4")});
  REQUIRE(h.channel.wait_for(4));
  CHECK(h.texts("ana").back() == "d<b<a,a<,c,c<a<,b,b<a,a<");
}
