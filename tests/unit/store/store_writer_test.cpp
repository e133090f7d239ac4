// The writer thread: nested transactions, group commit, flush, concurrent readers.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <numeric>
#include <thread>
#include <vector>

#include "store/store.hpp"
#include "store_test_support.hpp"

using namespace charla::store;
using charla::store::test::data_dir;
using charla::test::TempDir;
using charla::store::test::test_options;
using charla::store::test::kBulkDivisor;
using charla::store::test::WriterGate;

TEST_CASE("store: a WriteFn that throws rolls back only its own writes", "[store][writer]") {
  TempDir tmp;
  auto store = Store::open(test_options(data_dir(tmp)));
  std::vector<std::string> errors(4, "<not called>");
  bool saw_b = true;
  auto record = [&](int i) { return [&errors, i](const std::string& e) { errors[i] = e; }; };
  {
    WriterGate gate(*store);  // the four writes below land in one batch
    store->submit([](WriteTxn& txn) { txn.put(Db::conv, "a", "1"); }, record(0));
    store->submit([](WriteTxn& txn) {
      txn.put(Db::conv, "b", "1");
      txn.put(Db::conv, "a", "overwritten by a failed write");
      throw std::runtime_error("flow crashed");
    }, record(1));
    store->submit([&](WriteTxn& txn) {
      saw_b = txn.get(Db::conv, "b").has_value();  // the failed write left nothing
      txn.put(Db::conv, "c", "1");
    }, record(2));
    store->submit([](WriteTxn& txn) {
      txn.put(Db::conv, "d", "1");
      throw 42;
    }, record(3));
    gate.open();
  }
  store->flush();

  CHECK(errors == std::vector<std::string>{"", "flow crashed", "", "unknown exception"});
  CHECK_FALSE(saw_b);
  auto r = store->read();
  CHECK(r.get(Db::conv, "a") == "1");
  CHECK(r.get(Db::conv, "b") == std::nullopt);
  CHECK(r.get(Db::conv, "c") == "1");
  CHECK(r.get(Db::conv, "d") == std::nullopt);
  StoreStats stats = store->stats();
  CHECK(stats.max_batch == 4);  // one commit held all four
  CHECK(stats.commits == 2);    // the gate's batch, then the four
  CHECK(stats.writes == 3);     // gate + two
  CHECK(stats.failed_writes == 2);
}

TEST_CASE("store: after a WriteFn throws, the batch's other writes and counters are as if it never ran",
          "[store][writer]") {
  // The writer first runs a batch without a nested transaction per WriteFn; a throw drops
  // that attempt and reruns the batch nested. Nothing of the dropped attempt may remain:
  // not its puts, not the sequence numbers it took.
  TempDir tmp;
  auto store = Store::open(test_options(data_dir(tmp)));
  std::uint64_t first = 0, third = 0;
  std::vector<std::string> errors(3, "<not called>");
  auto record = [&](int i) { return [&errors, i](const std::string& e) { errors[i] = e; }; };
  {
    WriterGate gate(*store);
    store->submit([&](WriteTxn& txn) {
      first = txn.next_seq("test");
      txn.put(Db::conv, "first", std::to_string(first));
    }, record(0));
    store->submit([](WriteTxn& txn) {
      txn.next_seq("test");
      txn.put(Db::conv, "second", "x");
      throw std::runtime_error("unreadable row");
    }, record(1));
    store->submit([&](WriteTxn& txn) {
      third = txn.next_seq("test");
      txn.put(Db::conv, "third", std::to_string(third));
    }, record(2));
    gate.open();
  }
  store->flush();
  CHECK(errors == std::vector<std::string>{"", "unreadable row", ""});
  CHECK(first == 1);
  CHECK(third == 2);
  auto r = store->read();
  CHECK(r.get(Db::conv, "first") == "1");
  CHECK(r.get(Db::conv, "second") == std::nullopt);
  CHECK(r.get(Db::conv, "third") == "2");
  std::uint64_t next = 0;
  store->write([&](WriteTxn& txn) { next = txn.next_seq("test"); });
  CHECK(next == 3);
}

TEST_CASE("store: write() throws StoreError with the WriteFn's message", "[store][writer]") {
  TempDir tmp;
  auto store = Store::open(test_options(data_dir(tmp)));
  CHECK_THROWS_MATCHES(store->write([](WriteTxn&) { throw std::invalid_argument("bad age"); }),
                       StoreError, Catch::Message("bad age"));
  CHECK_THROWS_WITH(store->write([](WriteTxn& txn) { txn.put(Db::conv, std::string(600, 'k'), "v"); }),
                    Catch::Contains("put in conv"));  // LMDB's key limit is 511 bytes
  store->write([](WriteTxn& txn) { txn.put(Db::conv, "k", "v"); });
  CHECK(store->read().get(Db::conv, "k") == "v");
}

TEST_CASE("store: group commit batches concurrent writes", "[store][writer]") {
  TempDir tmp;
  auto options = test_options(data_dir(tmp));
  options.durable = true;  // a real fsync per commit, as in production
  auto store = Store::open(options);
  constexpr int kThreads = 4, kPerThread = 500 / kBulkDivisor, kTotal = kThreads * kPerThread;
  std::vector<std::atomic<int>> calls(kTotal);
  std::atomic<int> failures{0};

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = t * kPerThread; i < (t + 1) * kPerThread; ++i)
        store->submit([i](WriteTxn& txn) { txn.put(Db::inbox, be64(i), "event"); },
                      [&, i](const std::string& e) {
                        if (!e.empty()) ++failures;
                        ++calls[i];
                      });
    });
  for (auto& t : threads) t.join();
  store->flush();

  CHECK(failures == 0);
  CHECK(std::all_of(calls.begin(), calls.end(), [](const auto& c) { return c == 1; }));
  int stored = 0;
  store->read().scan(Db::inbox, "", [&](auto, auto) { return ++stored, true; });
  CHECK(stored == kTotal);

  StoreStats stats = store->stats();
  CHECK(stats.writes == kTotal);
  CHECK(stats.failed_writes == 0);
  CHECK(stats.commits < stats.writes);
  CHECK(stats.max_batch > 1);
  CHECK(stats.max_batch <= options.max_batch);
  CHECK(std::accumulate(stats.batch_histogram.begin(), stats.batch_histogram.end(), 0ull) ==
        stats.commits);
  CHECK(stats.batch_histogram.size() == 11);  // [1,2) ... [1024,2048) for max_batch 1024
}

TEST_CASE("store: max_batch caps the WriteFns per commit", "[store][writer]") {
  TempDir tmp;
  auto options = test_options(data_dir(tmp));
  options.max_batch = 3;
  auto store = Store::open(options);
  {
    WriterGate gate(*store);
    for (int i = 0; i < 7; ++i)
      store->submit([i](WriteTxn& txn) { txn.put(Db::seen, be64(i), "x"); }, nullptr);
    gate.open();
  }
  store->flush();
  StoreStats stats = store->stats();
  CHECK(stats.max_batch == 3);
  CHECK(stats.commits == 4);  // gate, 3, 3, 1
  CHECK(stats.batch_histogram == std::vector<std::uint64_t>{2, 2});  // sizes 1,1 and 3,3
}

TEST_CASE("store: flush returns after every earlier Done ran", "[store][writer]") {
  TempDir tmp;
  auto store = Store::open(test_options(data_dir(tmp)));
  std::atomic<int> done{0};
  const int writes = 200 / kBulkDivisor;
  for (int i = 0; i < writes; ++i)
    store->submit([i](WriteTxn& txn) { txn.put(Db::timers, be64(i), "t"); },
                  [&](const std::string&) { ++done; });
  store->flush();
  CHECK(done == writes);
}

TEST_CASE("store: the writer survives Done callbacks that throw or misuse the store",
          "[store][writer]") {
  TempDir tmp;
  auto store = Store::open(test_options(data_dir(tmp)));
  std::string misuse;
  store->submit([](WriteTxn&) {}, [](const std::string&) { throw std::runtime_error("oops"); });
  store->submit([](WriteTxn&) {}, [&](const std::string&) {
    try {
      store->flush();
    } catch (const StoreError& e) {
      misuse = e.what();
    }
  });
  store->write([](WriteTxn& txn) { txn.put(Db::conv, "still", "working"); });
  CHECK_THAT(misuse, Catch::Contains("writer thread"));
  CHECK(store->read().get(Db::conv, "still") == "working");
}

TEST_CASE("store: readers on other threads see consistent snapshots during writes",
          "[store][writer]") {
  TempDir tmp;
  auto options = test_options(data_dir(tmp));
  options.map_size = 64 << 10;  // grows several times while the readers run
  auto store = Store::open(options);
  std::atomic<bool> writing{true};
  std::atomic<int> snapshots{0};
  std::atomic<int> torn{0}, backwards{0};  // Catch2 assertions are not thread-safe

  auto reader = [&] {
    std::uint64_t previous = 0;
    for (bool final_round = false; !final_round;) {
      final_round = !writing;  // one more snapshot after the writes ended
      auto r = store->read();
      auto a = r.get(Db::conv, "a");
      auto b = r.get(Db::conv, "b");
      if (!a) continue;
      if (b != a) ++torn;  // both keys come from the same commit
      if (from_be64(*a) < previous) ++backwards;
      previous = from_be64(*a);
      ++snapshots;
      std::this_thread::sleep_for(std::chrono::microseconds(50));  // leave the shared CPUs to the writer
    }
  };
  std::thread r1(reader), r2(reader);
  const std::uint64_t writes = 300 / kBulkDivisor;
  for (std::uint64_t i = 1; i <= writes; ++i)
    store->submit([i](WriteTxn& txn) {
      txn.put(Db::conv, "a", be64(i));
      txn.put(Db::history, be64(i), std::string(4096, 'h'));
      txn.put(Db::conv, "b", be64(i));
    }, nullptr);
  store->flush();
  writing = false;
  r1.join();
  r2.join();

  CHECK(store->read().get(Db::conv, "a") == be64(writes));
  CHECK(store->stats().writes == writes);
  CHECK(store->stats().map_size > options.map_size);
  CHECK(snapshots > 0);
  CHECK(torn == 0);
  CHECK(backwards == 0);
}

TEST_CASE("store: an intake write queued behind a backlog of normal writes commits first",
          "[store][writer]") {
  TempDir tmp;
  auto options = test_options(data_dir(tmp));
  options.max_normal_per_batch = 64;
  auto store = Store::open(options);
  std::atomic<int> normal_done{0};
  int normal_done_at_intake = -1;
  std::string intake_error = "<not called>";
  {
    WriterGate gate(*store);
    for (int i = 0; i < 1000; ++i)
      store->submit([i](WriteTxn& txn) { txn.put(Db::conv, be64(i), "turn"); },
                    [&](const std::string&) { ++normal_done; });
    store->submit([](WriteTxn& txn) { txn.put(Db::inbox, be64(1), "event"); },
                  [&](const std::string& e) {
                    intake_error = e;
                    normal_done_at_intake = normal_done.load();
                  },
                  Store::Priority::intake);
    gate.open();
  }
  store->flush();
  CHECK(intake_error.empty());
  CHECK(normal_done_at_intake == 0);  // first into the first batch after the gate
  CHECK(normal_done == 1000);
  StoreStats stats = store->stats();
  CHECK(stats.writes == 1002);  // gate + 1000 + 1
  CHECK(stats.max_batch == 65);  // 1 intake + 64 normal: commits stay short
  CHECK(stats.commits == 1 + 1000 / 64 + 1);
  auto txn = store->read();
  CHECK(txn.get(Db::inbox, be64(1)) == "event");
  CHECK(txn.get(Db::conv, be64(999)) == "turn");
}

TEST_CASE("store: normal writes keep a share of each batch under sustained intake", "[store][writer]") {
  TempDir tmp;
  auto options = test_options(data_dir(tmp));
  options.max_batch = 8;
  options.max_normal_per_batch = 2;
  auto store = Store::open(options);
  std::vector<std::string> order;  // Dones run on the writer thread, one at a time
  {
    WriterGate gate(*store);
    store->submit([](WriteTxn& txn) { txn.put(Db::conv, "n", "1"); }, [&](const std::string&) { order.push_back("n"); });
    for (int i = 0; i < 20; ++i)
      store->submit([i](WriteTxn& txn) { txn.put(Db::inbox, be64(i), "e"); },
                    [&](const std::string&) { order.push_back("i"); }, Store::Priority::intake);
    gate.open();
  }
  store->flush();
  REQUIRE(order.size() == 21);
  // The first batch holds 6 intake writes (8 - 2 kept for normal ones), then the normal write.
  CHECK(std::find(order.begin(), order.end(), "n") - order.begin() == 6);
}

TEST_CASE("store: flush waits for intake writes submitted before it", "[store][writer]") {
  TempDir tmp;
  auto store = Store::open(test_options(data_dir(tmp)));
  std::atomic<int> done{0};
  {
    WriterGate gate(*store);
    for (int i = 0; i < 50; ++i) {
      store->submit([i](WriteTxn& txn) { txn.put(Db::conv, be64(i), "n"); }, [&](const std::string&) { ++done; });
      store->submit([i](WriteTxn& txn) { txn.put(Db::inbox, be64(i), "e"); }, [&](const std::string&) { ++done; },
                    Store::Priority::intake);
    }
    gate.open();
  }
  store->flush();
  CHECK(done == 100);
}
