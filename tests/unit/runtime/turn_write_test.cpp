// A turn's writes are serialized on the worker (prepare_turn) and only put by the
// store's writer thread (apply_prepared): the rows must be what apply_turn wrote.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "runtime/turn_write.hpp"
#include "support/temp_dir.hpp"

using namespace charla;
using namespace charla::runtime;
using nlohmann::json;

namespace {

struct TempStore {
  charla::test::TempDir dir;
  std::unique_ptr<store::Store> store;
  TempStore() {
    store::Store::Options o;
    o.dir = dir.path() / "data";
    o.map_size = 16ull << 20;
    o.durable = false;
    store = store::Store::open(o);
  }
  ~TempStore() { store->close(); }
};

TurnPlan sample_plan() {
  TurnPlan plan;
  plan.conv.key = "whatsapp:1:555";
  plan.conv.channel = "whatsapp";
  plan.conv.account = "1";
  plan.conv.user = "555";
  plan.conv.state = "NEEDS_ANALYSIS";
  plan.conv.data = {{"age", 35}};
  plan.conv.timers = {{"old", 1000}};
  plan.history_limit = 3;
  plan.now_ms = 5000;
  plan.inbound = {history_entry("in", json{{"type", "text"}, {"text", "35"}, {"id", "wamid.A"}}, 5000)};
  plan.outbound = {json{{"type", "text"}, {"text", "uno"}}, json{{"type", "text"}, {"text", "dos"}}};
  lua::TimerOp cancel;
  cancel.kind = lua::TimerOp::Kind::cancel;
  cancel.name = "old";
  lua::TimerOp set;
  set.name = "__timeout";
  set.due_ms = 9000;
  plan.timer_ops = {cancel, set};
  plan.inbox_seqs = {7};
  return plan;
}

}  // namespace

TEST_CASE("turn write: prepared on the worker, applied by the writer", "[runtime][turn_write]") {
  TempStore ts;
  const TurnPlan plan = sample_plan();
  ts.store->write([&](store::WriteTxn& txn) {
    txn.put(store::Db::inbox, store::be64(7), "{}");
    txn.put(store::Db::timers, timer_key(1000, plan.conv.key, "old"), "{}");
  });
  auto prepared = std::make_shared<PreparedTurn>(prepare_turn(plan));
  REQUIRE(prepared->outbox_values.size() == 2);
  ts.store->write([&](store::WriteTxn& txn) { apply_prepared(txn, *prepared); });
  const TurnOutcome& out = prepared->outcome;
  REQUIRE(out.rows.size() == 2);
  CHECK(out.rows[0].seq == 1);
  CHECK(out.rows[1].seq == 2);
  CHECK(out.history.size() == 3);
  CHECK(out.conv.history_next == 4);
  CHECK(out.conv.history_first == 1);
  CHECK(out.conv.timers == std::map<std::string, std::int64_t>{{"__timeout", 9000}});

  auto txn = ts.store->read();
  CHECK_FALSE(txn.get(store::Db::inbox, store::be64(7)));
  CHECK_FALSE(txn.get(store::Db::timers, timer_key(1000, plan.conv.key, "old")));
  CHECK(txn.get(store::Db::timers, timer_key(9000, plan.conv.key, "__timeout")));
  auto row = txn.get(store::Db::outbox, store::be64(2));
  REQUIRE(row);
  CHECK(json::parse(*row) == out.rows[1].to_json());
  auto conv = txn.get(store::Db::conv, plan.conv.key);
  REQUIRE(conv);
  CHECK(json::parse(*conv) == out.conv.to_json());
  int history = 0;
  txn.scan_prefix(store::Db::history, history_prefix(plan.conv.key), [&](auto, auto) { return ++history, true; });
  CHECK(history == 3);
}

TEST_CASE("turn write: apply_turn bounds history like before", "[runtime][turn_write]") {
  TempStore ts;
  TurnPlan plan = sample_plan();
  plan.history_limit = 2;
  TurnOutcome out;
  ts.store->write([&](store::WriteTxn& txn) { apply_turn(txn, plan, out); });
  CHECK(out.conv.history_first == 2);
  CHECK(out.conv.history_next == 4);
  auto txn = ts.store->read();
  CHECK_FALSE(txn.get(store::Db::history, history_key(plan.conv.key, 1)));
  CHECK(txn.get(store::Db::history, history_key(plan.conv.key, 3)));
}

TEST_CASE("turn write: history keeps what a transcript shows of lists, media, locations", "[runtime][turn_write]") {
  auto list = history_entry("out", json{{"type", "list"}, {"text", "Elige"}, {"button", "Ver"},
                                        {"sections", json::array({{{"title", "A"}}})}}, 1);
  CHECK(list["button"] == "Ver");
  CHECK(list["sections"][0]["title"] == "A");
  auto image = history_entry("out", json{{"type", "image"}, {"link", "https://x.test/a.png"}, {"caption", "mira"}}, 1);
  CHECK(image["link"] == "https://x.test/a.png");
  CHECK(image["caption"] == "mira");
  auto place = history_entry("in", json{{"type", "location"}, {"location", {{"latitude", -33.4}, {"longitude", -70.6}}}}, 1);
  CHECK(place["location"]["latitude"] == -33.4);
  auto picked = history_entry("in", json{{"type", "interactive"}, {"text", "Sí"}, {"button", {{"id", "yes"}}}}, 1);
  CHECK(picked["button"]["id"] == "yes");
  auto agent = history_entry("out", json{{"type", "text"}, {"text", "hola"}, {"agent", "Ana"}}, 1);
  CHECK(agent["agent"] == "Ana");
}

TEST_CASE("turn write: a plan taken over writes what a copied plan writes, and keeps what the worker reads after", "[runtime][turn_write]") {
  const TurnPlan plan = sample_plan();
  const PreparedTurn copied = prepare_turn(plan);
  TurnPlan taken = sample_plan();
  taken.fired_timer = timer_key(1000, plan.conv.key, "old");
  const PreparedTurn moved = prepare_turn(std::move(taken));
  CHECK(moved.outbox_values == copied.outbox_values);
  REQUIRE(moved.ops.size() == copied.ops.size() + 1);  // + the fired timer's delete
  CHECK(moved.outcome.history == copied.outcome.history);
  CHECK(moved.outcome.conv.to_json() == copied.outcome.conv.to_json());
  REQUIRE(moved.outcome.rows.size() == 2);
  CHECK(moved.outcome.rows[1].message == json{{"type", "text"}, {"text", "dos"}});
  // Worker::on_committed reads these after prepare_turn took the plan.
  CHECK(taken.inbox_seqs == std::vector<std::uint64_t>{7});
  CHECK(taken.fired_timer == timer_key(1000, plan.conv.key, "old"));
}
