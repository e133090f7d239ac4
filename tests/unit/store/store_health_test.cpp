// The store's commit-failure state: set while batches cannot commit (map or disk
// full), cleared by the next commit, and logged once per change, not once per write.
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "store/store.hpp"
#include "store_test_support.hpp"

using namespace charla::store;
using charla::store::test::data_dir;
using charla::store::test::test_options;
using charla::test::TempDir;

namespace {

// Sends this process's stderr (where log lines go) to a file while alive.
class StderrCapture {
 public:
  explicit StderrCapture(std::filesystem::path file) : file_(std::move(file)) {
    std::fflush(stderr);
    saved_ = dup(2);
    FILE* f = std::fopen(file_.c_str(), "w");
    dup2(fileno(f), 2);
    std::fclose(f);
  }
  ~StderrCapture() { restore(); }
  std::string text() {
    restore();
    std::ifstream in(file_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    dup2(saved_, 2);
    close(saved_);
    saved_ = -1;
  }
  std::filesystem::path file_;
  int saved_ = -1;
};

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("store: a full map sets commit_failing once, a later commit clears it", "[store][health]") {
  TempDir tmp;
  auto options = test_options(data_dir(tmp));
  options.map_size = 1 << 20;
  options.max_map_size = 1 << 20;
  auto store = Store::open(options);
  CHECK_FALSE(store->stats().commit_failing);

  StderrCapture capture(tmp.path() / "stderr.log");
  const std::string value(32 << 10, 'v');
  int written = 0;
  bool failed = false;
  for (int i = 0; i < 64 && !failed; ++i) {  // 2 MiB at most: the 1 MiB map fills first
    try {
      store->write([&, i](WriteTxn& txn) { txn.put(Db::history, be64(i), value); });
      ++written;
    } catch (const StoreError&) {
      failed = true;
    }
  }
  REQUIRE(failed);
  CHECK(written > 4);
  auto stats = store->stats();
  CHECK(stats.commit_failing);
  CHECK(stats.commit_failure == "map full");
  for (int i = 0; i < 20; ++i)  // a turn retried every second for a minute, say
    CHECK_THROWS(store->write([&](WriteTxn& txn) { txn.put(Db::history, "retry", value); }));
  CHECK(store->stats().commit_failing);

  // Freeing space (the operator deletes history) lets commits through again.
  store->write([&](WriteTxn& txn) {
    for (int i = 0; i < written; ++i) txn.del(Db::history, be64(i));
  });
  CHECK_FALSE(store->stats().commit_failing);
  CHECK(store->stats().commit_failure.empty());
  CHECK_THROWS(store->write([&](WriteTxn& txn) { txn.put(Db::history, "huge", std::string(2 << 20, 'x')); }));
  CHECK(store->stats().commit_failing);

  const std::string log = capture.text();
  CHECK(count(log, "\"event\":\"store_commit_failing\"") == 2);  // failing, ok, failing
  CHECK(count(log, "\"event\":\"store_commit_recovered\"") == 1);
  CHECK(count(log, "\"cause\":\"map full\"") == 2);
}
