// Opening, reading back, scans, reopening and closing the store.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <vector>

#include "store/store.hpp"
#include "store_test_support.hpp"

using namespace charla::store;
using charla::store::test::data_dir;
using charla::test::TempDir;
using charla::store::test::test_options;

namespace {

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const StoreError& e) {
    return e.what();
  }
  return "<no StoreError>";
}

}  // namespace

TEST_CASE("store: a committed write reads back; missing keys are nullopt", "[store]") {
  TempDir tmp;
  auto store = Store::open(test_options(data_dir(tmp)));
  REQUIRE(std::filesystem::is_directory(data_dir(tmp)));

  store->write([](WriteTxn& txn) {
    txn.put(Db::conv, "wa:34600", R"({"state":"INICIO"})");
    txn.put(Db::outbox, be64(7), "queued");
    REQUIRE(txn.get(Db::conv, "wa:34600") == R"({"state":"INICIO"})");  // own writes visible
  });

  auto r = store->read();
  CHECK(r.get(Db::conv, "wa:34600") == R"({"state":"INICIO"})");
  CHECK(r.get(Db::outbox, be64(7)) == "queued");
  CHECK(r.get(Db::conv, "wa:nobody") == std::nullopt);
  CHECK(r.get(Db::inbox, "wa:34600") == std::nullopt);  // databases are separate

  bool deleted = false, deleted_again = true;
  store->write([&](WriteTxn& txn) {
    deleted = txn.del(Db::outbox, be64(7));
    deleted_again = txn.del(Db::outbox, be64(7));
  });
  CHECK(deleted);
  CHECK_FALSE(deleted_again);
  CHECK(store->read().get(Db::outbox, be64(7)) == std::nullopt);
  CHECK(r.get(Db::outbox, be64(7)) == "queued");  // an older snapshot is unaffected
}

TEST_CASE("store: be64 keys sort numerically", "[store]") {
  CHECK(be64(0x0102030405060708ull) == std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  CHECK(from_be64(be64(0)) == 0);
  CHECK(from_be64(be64(~0ull)) == ~0ull);
  CHECK(be64(255) < be64(256));
  CHECK(be64(1ull << 32) < be64((1ull << 32) + 1));
  CHECK(db_name(Db::outbox_by_wamid) == "outbox_by_wamid");
  CHECK(db_name(Db::meta) == "meta");
}

TEST_CASE("store: scan and scan_prefix visit keys in numeric order", "[store]") {
  TempDir tmp;
  auto store = Store::open(test_options(data_dir(tmp)));
  const std::vector<std::uint64_t> seqs = {1000, 2, 256, 1, 10, 65536};
  store->write([&](WriteTxn& txn) {
    for (auto seq : seqs) txn.put(Db::history, "conv-a/" + be64(seq), std::to_string(seq));
    txn.put(Db::history, "conv-b/" + be64(1), "b1");
    txn.put(Db::history, "conv-/" + be64(1), "before a");
  });

  auto seqs_with_prefix = [](const auto& txn, std::string_view prefix) {
    std::vector<std::uint64_t> seen;
    txn.scan_prefix(Db::history, prefix, [&](std::string_view key, std::string_view value) {
      seen.push_back(from_be64(key.substr(prefix.size())));
      CHECK(value == std::to_string(seen.back()));
      return true;
    });
    return seen;
  };
  const std::vector<std::uint64_t> sorted = {1, 2, 10, 256, 1000, 65536};
  CHECK(seqs_with_prefix(store->read(), "conv-a/") == sorted);

  std::vector<std::string> from_ten;
  store->read().scan(Db::history, "conv-a/" + be64(10), [&](std::string_view key, auto) {
    from_ten.emplace_back(key);
    return true;
  });
  REQUIRE(from_ten.size() == 5);  // 10, 256, 1000, 65536, then conv-b
  CHECK(from_ten.front() == "conv-a/" + be64(10));
  CHECK(from_ten.back() == "conv-b/" + be64(1));

  std::vector<std::string> all;
  store->read().scan(Db::history, "", [&](std::string_view key, auto) {
    all.emplace_back(key);
    return all.size() < 2;  // false stops the scan
  });
  CHECK(all == std::vector<std::string>{"conv-/" + be64(1), "conv-a/" + be64(1)});

  bool visited = false;
  store->read().scan_prefix(Db::history, "conv-z/", [&](auto, auto) { return visited = true; });
  CHECK_FALSE(visited);

  store->write([&](WriteTxn& txn) {  // the same from a write transaction
    txn.put(Db::history, "conv-a/" + be64(5), "5");
    CHECK(seqs_with_prefix(txn, "conv-a/") == std::vector<std::uint64_t>{1, 2, 5, 10, 256, 1000, 65536});
  });
}

TEST_CASE("store: reopening sees committed data and seq counters continue", "[store]") {
  TempDir tmp;
  std::vector<std::uint64_t> first;
  {
    auto store = Store::open(test_options(data_dir(tmp)));
    for (int i = 0; i < 3; ++i)
      store->write([&](WriteTxn& txn) {
        auto seq = txn.next_seq("inbox_seq");
        first.push_back(seq);
        txn.put(Db::inbox, be64(seq), "event " + std::to_string(seq));
      });
    store->write([](WriteTxn& txn) { CHECK(txn.next_seq("outbox_seq") == 1); });
    store->close();
    store->close();  // idempotent
  }
  CHECK(first == std::vector<std::uint64_t>{1, 2, 3});

  auto store = Store::open(test_options(data_dir(tmp)));
  CHECK(store->read().get(Db::inbox, be64(3)) == "event 3");
  std::uint64_t next = 0, other = 0;
  store->write([&](WriteTxn& txn) {
    next = txn.next_seq("inbox_seq");
    other = txn.next_seq("outbox_seq");
  });
  CHECK(next == 4);
  CHECK(other == 2);
  CHECK(store->read().get(Db::meta, "seq/inbox_seq") == be64(4));
  CHECK(store->read().get(Db::meta, "schema_version") == std::to_string(kSchemaVersion));
}

TEST_CASE("store: a data dir with another schema version is refused", "[store]") {
  TempDir tmp;
  Store::open(test_options(data_dir(tmp)))->write([](WriteTxn& txn) {
    txn.put(Db::meta, "schema_version", "99");
  });
  std::string error = message_of([&] { Store::open(test_options(data_dir(tmp))); });
  CHECK_THAT(error, Catch::Contains("data dir " + data_dir(tmp).string() + " has schema version 99"));
  CHECK_THAT(error, Catch::Contains("this charla expects " + std::to_string(kSchemaVersion)));

  Store::open(test_options(tmp.path() / "garbled"))->write([](WriteTxn& txn) {
    txn.put(Db::meta, "schema_version", "one");
  });
  CHECK_THAT(message_of([&] { Store::open(test_options(tmp.path() / "garbled")); }),
             Catch::Contains("unreadable schema version 'one'"));
}

TEST_CASE("store: open errors name the path and the reason", "[store]") {
  TempDir tmp;
  const auto file = tmp.path() / "plain-file";
  std::ofstream(file) << "not a store";
  CHECK_THAT(message_of([&] { Store::open(test_options(file)); }),
             Catch::Contains(file.string() + " is not a directory"));
  CHECK_THAT(message_of([&] { Store::open(test_options(file / "sub")); }),
             Catch::Contains("cannot create data dir " + (file / "sub").string()));

  const auto broken = tmp.path() / "broken";
  std::filesystem::create_directories(broken / "data.mdb");  // LMDB cannot open a dir as its file
  std::string error = message_of([&] { Store::open(test_options(broken)); });
  CHECK_THAT(error, Catch::Contains("cannot open LMDB environment in " + broken.string()));
  CHECK_THAT(error, Catch::Contains("Is a directory"));

  auto store = Store::open(test_options(data_dir(tmp)));
  CHECK_THAT(message_of([&] { Store::open(test_options(data_dir(tmp) / ".")); }),
             Catch::Contains("is already open in this process"));

  if (geteuid() != 0) {  // root ignores permissions
    const auto locked = tmp.path() / "locked";
    std::filesystem::create_directories(locked);
    chmod(locked.c_str(), 0500);
    CHECK_THAT(message_of([&] { Store::open(test_options(locked)); }),
               Catch::Contains("Permission denied"));
    chmod(locked.c_str(), 0700);
  }
}

TEST_CASE("store: after close, writes fail with 'store is closed'", "[store]") {
  TempDir tmp;
  auto store = Store::open(test_options(data_dir(tmp)));
  store->write([](WriteTxn& txn) { txn.put(Db::conv, "k", "v"); });
  store->close();

  int calls = 0;
  std::string error;
  store->submit([](WriteTxn& txn) { txn.put(Db::conv, "k2", "v"); },
                [&](const std::string& e) { ++calls, error = e; });
  CHECK(calls == 1);
  CHECK(error == "store is closed");
  CHECK_THAT(message_of([&] { store->write([](WriteTxn&) {}); }), Catch::Equals("store is closed"));
  CHECK_THAT(message_of([&] { store->read(); }), Catch::Equals("store is closed"));
  store->flush();  // nothing pending: returns
  CHECK(store->stats().writes == 1);
  CHECK(store->options().dir == data_dir(tmp));
}

TEST_CASE("store: a ReadTxn is a movable snapshot that outlives close()", "[store]") {
  TempDir tmp;
  auto store = Store::open(test_options(data_dir(tmp)));
  store->write([](WriteTxn& txn) { txn.put(Db::conv, "k", "old"); });
  ReadTxn before = store->read();
  store->write([](WriteTxn& txn) { txn.put(Db::conv, "k", "new"); });
  ReadTxn moved = std::move(before);
  CHECK(moved.get(Db::conv, "k") == "old");
  CHECK(store->read().get(Db::conv, "k") == "new");

  store->close();
  CHECK(moved.get(Db::conv, "k") == "old");  // the environment closes when this ends
  { ReadTxn gone = std::move(moved); }
  auto reopened = Store::open(test_options(data_dir(tmp)));  // and the dir is released
  CHECK(reopened->read().get(Db::conv, "k") == "new");
}
