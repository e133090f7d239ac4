// Guarantee 3: ordered per conversation, parallel across conversations.
#include "runtime_fixture.hpp"

#include <catch2/catch.hpp>

using namespace charla;
using namespace charla::testing;

namespace {

// Each turn counts the messages it has seen in persisted data and echoes the count
// with the text: interleaved or reordered turns show up as a wrong pair.
const char* kCounterFlow = R"(
return {
  name = "counter", initial = "ON",
  states = {
    ON = {
      message = function(ctx, msg)
        ctx.data.n = (ctx.data.n or 0) + 1
        ctx:say(ctx.data.n .. ":" .. msg.text)
      end,
    },
  },
}
)";

}  // namespace

TEST_CASE("1,000 conversations x 20 messages from 4 threads: each sees its messages in order, one turn at a time") {
  TempDir dir;
  auto flow = dir.write("counter.lua", kCounterFlow);
  store::Store::Options so;
  so.dir = dir.path() / "data";
  so.durable = false;
  auto store = store::Store::open(so);
  runtime::SystemClock clock;
  runtime::EngineOptions options;
  options.workers = 2;
  options.flows = {flow};
  options.timer_tick = std::chrono::milliseconds(0);
  runtime::Engine engine(options, *store, clock);
  RecordingChannel channel;
  engine.add_channel(channel);
  engine.start();

  constexpr int kConversations = 1000, kMessages = 20, kThreads = 4;
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      // Each producer owns a slice of users and sends message i to all of them before i+1,
      // in batches, so many conversations are in flight at once.
      for (int i = 1; i <= kMessages; ++i) {
        std::vector<runtime::InboundEvent> batch;
        for (int u = t; u < kConversations; u += kThreads) {
          batch.push_back(text_event("u" + std::to_string(u), "m" + std::to_string(i)));
          if (batch.size() == 50) accept_all(engine, std::exchange(batch, {}));
        }
        if (!batch.empty()) accept_all(engine, std::move(batch));
      }
    });
  }
  for (auto& p : producers) p.join();
  REQUIRE(channel.wait_for(kConversations * kMessages, std::chrono::seconds(120)));

  int wrong = 0;
  for (int u = 0; u < kConversations; ++u) {
    auto texts = channel.texts(runtime::conversation_key("test", "acct", "u" + std::to_string(u)));
    REQUIRE(texts.size() == kMessages);
    for (int i = 1; i <= kMessages; ++i)
      if (texts[i - 1] != std::to_string(i) + ":m" + std::to_string(i)) ++wrong;
  }
  CHECK(wrong == 0);
  // Dispatch precedes the turn counter update: give the last report a moment.
  CHECK(eventually([&] { return engine.stats().turns == kConversations * kMessages; }));
  engine.stop();
}

TEST_CASE("a redelivered message id is stored once and answered once") {
  TempDir dir;
  auto flow = dir.write("counter.lua", kCounterFlow);
  store::Store::Options so;
  so.dir = dir.path() / "data";
  auto store = store::Store::open(so);
  runtime::SystemClock clock;
  runtime::EngineOptions options;
  options.workers = 2;
  options.flows = {flow};
  runtime::Engine engine(options, *store, clock);
  RecordingChannel channel;
  engine.add_channel(channel);
  engine.start();

  auto first = accept_all(engine, {text_event("ana", "hola", "wamid.1")});
  REQUIRE(first.error.empty());
  CHECK(first.duplicates == 0);
  // The same id again, alone and inside a batch with a new one.
  auto again = accept_all(engine, {text_event("ana", "hola", "wamid.1")});
  CHECK(again.duplicates == 1);
  auto mixed = accept_all(engine, {text_event("ana", "hola", "wamid.1"), text_event("ana", "otra", "wamid.2")});
  CHECK(mixed.duplicates == 1);
  REQUIRE(channel.wait_for(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(channel.texts(runtime::conversation_key("test", "acct", "ana")) == std::vector<std::string>{"1:hola", "2:otra"});
  engine.stop();
}
