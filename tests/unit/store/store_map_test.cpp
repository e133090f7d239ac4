// Map growth, the max_map_size limit and I/O errors: reported, never a crash.
#include <signal.h>
#include <sys/resource.h>

#include <catch2/catch.hpp>

#include "store/store.hpp"
#include "store_test_support.hpp"

using namespace charla::store;
using charla::store::test::data_dir;
using charla::test::TempDir;
using charla::store::test::test_options;
using charla::store::test::WriterGate;

namespace {

Store::Options tiny_map(const std::filesystem::path& dir, std::uint64_t max = 64ull << 30) {
  auto options = test_options(dir);
  options.map_size = 64 << 10;  // LMDB keeps at least what the data needs
  options.max_map_size = max;
  return options;
}

}  // namespace

TEST_CASE("store: the map grows from a tiny size to hold megabytes", "[store][map]") {
  TempDir tmp;
  auto store = Store::open(tiny_map(data_dir(tmp)));
  const std::uint64_t initial = store->stats().map_size;
  CHECK(initial <= 128 << 10);

  const std::string value(64 << 10, 'v');
  for (int i = 0; i < 64; ++i)  // 4 MiB
    store->write([&, i](WriteTxn& txn) { txn.put(Db::history, be64(i), value); });
  store->write([&](WriteTxn& txn) {  // and one batch that needs several doublings at once
    for (int i = 64; i < 96; ++i) txn.put(Db::history, be64(i), value);
  });

  const std::uint64_t grown = store->stats().map_size;
  CHECK(grown >= 6ull << 20);
  CHECK(store->stats().failed_writes == 0);
  std::size_t bytes = 0;
  store->read().scan(Db::history, "", [&](auto, std::string_view v) { return bytes += v.size(), true; });
  CHECK(bytes == 96 * value.size());

  store->close();  // a reopened store starts at least as large as its data
  auto reopened = Store::open(tiny_map(data_dir(tmp)));
  CHECK(reopened->stats().map_size >= 6ull << 20);
}

TEST_CASE("store: past max_map_size a write fails clearly and the store keeps working",
          "[store][map]") {
  TempDir tmp;
  auto store = Store::open(tiny_map(data_dir(tmp), 1 << 20));
  const std::string huge(2 << 20, 'x');
  CHECK_THROWS_WITH(store->write([&](WriteTxn& txn) { txn.put(Db::outbox, be64(1), huge); }),
                    "LMDB map is full (max_map_size 1 MiB reached); raise store.max_map_size");
  CHECK(store->stats().map_size == 1 << 20);

  store->write([](WriteTxn& txn) { txn.put(Db::outbox, be64(2), "small"); });
  auto r = store->read();
  CHECK(r.get(Db::outbox, be64(1)) == std::nullopt);
  CHECK(r.get(Db::outbox, be64(2)) == "small");
  CHECK(store->stats().failed_writes == 1);
}

TEST_CASE("store: an oversized write does not fail the small writes batched with it",
          "[store][map]") {
  TempDir tmp;
  auto store = Store::open(tiny_map(data_dir(tmp), 1 << 20));
  std::vector<std::string> errors(3, "<not called>");
  auto record = [&](int i) { return [&errors, i](const std::string& e) { errors[i] = e; }; };
  {
    WriterGate gate(*store);
    store->submit([](WriteTxn& txn) { txn.put(Db::conv, "a", "1"); }, record(0));
    store->submit([](WriteTxn& txn) {
      txn.put(Db::conv, "big", std::string(2 << 20, 'x'));
    }, record(1));
    store->submit([](WriteTxn& txn) { txn.put(Db::conv, "b", "1"); }, record(2));
    gate.open();
  }
  store->flush();
  CHECK(errors[0] == "");
  CHECK_THAT(errors[1], Catch::Contains("max_map_size 1 MiB reached"));
  CHECK(errors[2] == "");
  auto r = store->read();
  CHECK(r.get(Db::conv, "a") == "1");
  CHECK(r.get(Db::conv, "b") == "1");
  CHECK(r.get(Db::conv, "big") == std::nullopt);
}

TEST_CASE("store: a WriteFn that swallows MDB_MAP_FULL still gets the map grown",
          "[store][map]") {
  TempDir tmp;
  auto store = Store::open(tiny_map(data_dir(tmp)));
  int runs = 0;
  store->write([&](WriteTxn& txn) {
    ++runs;
    try {
      txn.put(Db::conv, "big", std::string(1 << 20, 'x'));
    } catch (const StoreError&) {  // a careless flow: the writer must not commit half a batch
    }
  });
  CHECK(runs > 1);  // rerun after growing
  CHECK(store->read().get(Db::conv, "big")->size() == 1 << 20);
}

// A full disk cannot be staged without root, but a file size limit fails LMDB's page
// writes the same way (EFBIG instead of ENOSPC).
TEST_CASE("store: an I/O error at commit becomes an error string", "[store][map]") {
  TempDir tmp;
  auto store = Store::open(test_options(data_dir(tmp)));
  store->write([](WriteTxn& txn) { txn.put(Db::conv, "before", "1"); });

  rlimit saved{};
  REQUIRE(getrlimit(RLIMIT_FSIZE, &saved) == 0);
  auto old_handler = signal(SIGXFSZ, SIG_IGN);
  rlimit limited = saved;
  limited.rlim_cur = 1 << 20;
  REQUIRE(setrlimit(RLIMIT_FSIZE, &limited) == 0);
  std::string error = "<not called>";
  try {
    store->write([](WriteTxn& txn) { txn.put(Db::conv, "big", std::string(4 << 20, 'x')); });
  } catch (const StoreError& e) {
    error = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &saved);
  signal(SIGXFSZ, old_handler);

  CHECK_THAT(error, Catch::StartsWith("commit failed: "));
  store->write([](WriteTxn& txn) { txn.put(Db::conv, "after", "1"); });
  auto r = store->read();
  CHECK(r.get(Db::conv, "big") == std::nullopt);
  CHECK(r.get(Db::conv, "before") == "1");
  CHECK(r.get(Db::conv, "after") == "1");
}
