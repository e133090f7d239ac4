// Pruning the dedup table in bounded slices: every expired row goes, no fresh row
// does, whatever the slice size.
#include "runtime/seen_pruning.hpp"
#include "runtime_fixture.hpp"

#include <catch2/catch.hpp>

#include <future>

using namespace charla;
using namespace charla::testing;

TEST_CASE("prune_seen removes exactly the rows written before the cutoff, across many slices") {
  TempDir dir;
  store::Store::Options so;
  so.dir = dir.path() / "data";
  auto store = store::Store::open(so);
  // 25 rows, alternating old (t=1000) and fresh (t=5000), plus one row without a time.
  store->write([](store::WriteTxn& txn) {
    for (int i = 0; i < 25; ++i)
      txn.put(store::Db::seen, "whatsapp:wamid." + std::to_string(100 + i),
              store::be64(static_cast<std::uint64_t>(i)) + store::be64(i % 2 ? 5000 : 1000));
    txn.put(store::Db::seen, "whatsapp:legacy", store::be64(99));
  });

  auto slice_rows = GENERATE(1u, 4u, 1000u);
  std::promise<runtime::SeenPruneResult> done;
  runtime::prune_seen(*store, 3000, slice_rows, [&](const runtime::SeenPruneResult& r) { done.set_value(r); });
  auto result = done.get_future().get();
  CHECK(result.error.empty());
  CHECK(result.visited == 26);
  CHECK(result.pruned == 13);

  std::vector<std::string> kept;
  store->read().scan(store::Db::seen, "", [&](std::string_view key, std::string_view) {
    kept.emplace_back(key);
    return true;
  });
  CHECK(kept.size() == 13);
  for (auto& key : kept)
    if (key != "whatsapp:legacy") CHECK(std::stoi(key.substr(std::string("whatsapp:wamid.").size())) % 2 == 1);
}
