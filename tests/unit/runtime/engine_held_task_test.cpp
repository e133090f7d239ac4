// Engine::with_conversation_held: an operation that finishes asynchronously (an agent's
// send committing its outbox row and history line) holds the conversation's turns until
// it releases, so the next turn reads what it wrote.
#include "runtime_fixture.hpp"

#include <catch2/catch.hpp>

#include <future>

using namespace charla;
using namespace charla::testing;

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
  Harness() : EngineRig(kEcho) {}
};

}  // namespace

TEST_CASE("a held operation delays the conversation's turns until it releases; others keep going") {
  Harness h;
  h.engine->start();
  std::promise<std::function<void()>> held;
  h.engine->with_conversation_held(Harness::key("ana"), [&held](std::function<void()> release) {
    held.set_value(std::move(release));  // released later, from another thread
  });
  auto release = held.get_future().get();
  accept_all(*h.engine, {text_event("ana", "hola", "w1"), text_event("beto", "hola", "w2")});
  REQUIRE(h.channel.wait_for(1));  // beto's turn is not held
  CHECK(h.channel.texts(Harness::key("beto")) == std::vector<std::string>{"eco hola"});
  CHECK_FALSE(h.channel.wait_for(2, std::chrono::milliseconds(300)));  // ana's waits
  release();
  release();  // a second release is ignored
  REQUIRE(h.channel.wait_for(2));
  CHECK(h.channel.texts(Harness::key("ana")) == std::vector<std::string>{"eco hola"});
  h.engine->stop();
}

TEST_CASE("a held operation that throws before releasing does not hold the conversation forever") {
  Harness h;
  h.engine->start();
  h.engine->with_conversation_held(Harness::key("ines"), [](std::function<void()>) {
    throw std::runtime_error("a bug in an admin task");
  });
  accept_all(*h.engine, {text_event("ines", "hola", "w1")});
  REQUIRE(h.channel.wait_for(1));
  CHECK(h.channel.texts(Harness::key("ines")) == std::vector<std::string>{"eco hola"});
  CHECK(h.engine->stats().loop_exceptions == 1);
  h.engine->stop();
}
