// The `paused` db (the handoff index, runtime/handoff_index.hpp): a new store starts
// with it marked complete; a store that already holds conversations without it is
// left unmarked at open, for the runtime to build it from its records.
#include <catch2/catch.hpp>

#include "store/store.hpp"
#include "store_test_support.hpp"

using namespace charla::store;
using charla::store::test::data_dir;
using charla::store::test::test_options;
using charla::test::TempDir;

TEST_CASE("store: a new data dir has an empty handoff index marked complete", "[store][paused_index]") {
  TempDir tmp;
  auto store = Store::open(test_options(data_dir(tmp)));
  auto txn = store->read();
  CHECK(txn.get(Db::meta, kPausedIndexMark).has_value());
  CHECK(txn.count(Db::paused) == 0);
}

TEST_CASE("store: conversations written before the index existed leave it unmarked at open", "[store][paused_index]") {
  TempDir tmp;
  {
    auto store = Store::open(test_options(data_dir(tmp)));
    // An older charla's data dir: conversations, no index and no mark.
    store->write([](WriteTxn& txn) {
      txn.put(Db::conv, "wa:1:34600", R"({"state":"A","paused":true})");
      txn.del(Db::meta, kPausedIndexMark);
    });
  }
  auto store = Store::open(test_options(data_dir(tmp)));
  CHECK_FALSE(store->read().get(Db::meta, kPausedIndexMark).has_value());  // not claimed complete
  store->close();
  // An emptied store (every conversation reset) is complete again at its next open.
  {
    auto again = Store::open(test_options(data_dir(tmp)));
    again->write([](WriteTxn& txn) { txn.del(Db::conv, "wa:1:34600"); });
  }
  auto emptied = Store::open(test_options(data_dir(tmp)));
  CHECK(emptied->read().get(Db::meta, kPausedIndexMark).has_value());
}
