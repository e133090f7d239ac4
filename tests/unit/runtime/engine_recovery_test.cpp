// What a restart after a crash does with the outbox: replies the previous run left
// pending go out before the replies of turns recovered from the inbox, each once.
#include "runtime/conversation.hpp"
#include "runtime_fixture.hpp"

#include <catch2/catch.hpp>

using namespace charla;
using namespace charla::testing;
using nlohmann::json;

namespace {

const char* kEcho = R"(
return {
  name = "eco", initial = "A",
  states = { A = { message = function(ctx, msg) ctx:say("nuevo " .. msg.text) end } },
}
)";

runtime::OutboundRow row_for(const std::string& user, const std::string& text) {
  runtime::OutboundRow r;
  r.conversation = runtime::conversation_key("test", "acct", user);
  r.channel = "test";
  r.account = "acct";
  r.to = user;
  r.message = {{"type", "text"}, {"text", text}};
  return r;
}

}  // namespace

TEST_CASE("after a crash, replies left pending go out before those of recovered turns, each once") {
  TempDir dir;
  auto flow = dir.write("flow.lua", kEcho);
  store::Store::Options so;
  so.dir = dir.path() / "data";
  auto store = store::Store::open(so);
  RecordingChannel channel;
  channel.mark_delivered_in(*store);

  // What a process killed under load leaves behind: a long outbox of replies already
  // sent (the scan at startup takes a while), ana's replies not yet sent, and ana's next
  // message acknowledged but not yet turned.
  store->write([&](store::WriteTxn& txn) {
    for (int i = 0; i < 20000; ++i) {
      auto j = row_for("u" + std::to_string(i), "enviado").to_json();
      j["status"] = "accepted";
      txn.put(store::Db::outbox, store::be64(txn.next_seq("outbox")), j.dump());
    }
    for (auto text : {"viejo 1", "viejo 2", "viejo 3"})
      txn.put(store::Db::outbox, store::be64(txn.next_seq("outbox")), row_for("ana", text).to_json().dump());
    auto e = text_event("ana", "uno", "wamid.uno");
    e.seq = txn.next_seq("inbox");
    txn.put(store::Db::inbox, store::be64(e.seq), e.to_json().dump());
  });

  runtime::ManualClock clock;
  runtime::EngineOptions options;
  options.workers = 2;
  options.flows = {flow};
  options.timer_tick = std::chrono::milliseconds(0);
  runtime::Engine engine(options, *store, clock);
  engine.add_channel(channel);
  engine.start();
  REQUIRE(channel.wait_for(4));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a second dispatch would show by now
  CHECK(channel.texts(runtime::conversation_key("test", "acct", "ana")) ==
        std::vector<std::string>{"viejo 1", "viejo 2", "viejo 3", "nuevo uno"});
  CHECK(channel.count() == 4);
  engine.stop();
}
