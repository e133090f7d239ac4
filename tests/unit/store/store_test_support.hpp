#pragma once
// Shared helpers for the store tests: a data dir inside the test's temp dir and a gate
// that holds the writer thread so that the next submissions land in one batch.
#include "store/store.hpp"
#include "support/temp_dir.hpp"

#include <filesystem>
#include <future>
#include <memory>
#include <string>

namespace charla::store::test {

// Where a test opens its store: a dir that does not exist yet inside the test's
// TempDir, so Store::open's own creation of the data dir is exercised too.
inline std::filesystem::path data_dir(const charla::test::TempDir& tmp) { return tmp.path() / "data"; }

// Sanitizer allocators serve LMDB's ~3 MB allocation per nested transaction with a
// fresh mapping (several ms each, vs. microseconds with glibc): bulk tests do less there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int kBulkDivisor = 5;
#else
constexpr int kBulkDivisor = 1;
#endif

inline Store::Options test_options(const std::filesystem::path& dir) {
  Store::Options options;
  options.dir = dir;
  options.map_size = 16ull << 20;
  options.durable = false;
  return options;
}

// Occupies the writer thread until open() is called. Submissions made meanwhile
// queue up and are then taken as one batch (up to max_batch).
class WriterGate {
 public:
  explicit WriterGate(Store& store) {
    auto opened = opened_.get_future().share();
    auto entered = std::make_shared<std::promise<void>>();
    std::future<void> inside = entered->get_future();
    store.submit([opened, entered](WriteTxn&) {
      entered->set_value();
      opened.wait();
    }, nullptr);
    inside.wait();  // the writer is now busy in this batch
  }
  WriterGate(const WriterGate&) = delete;
  WriterGate& operator=(const WriterGate&) = delete;
  ~WriterGate() { open(); }  // never leave the writer stuck if a test fails early
  void open() {
    if (!is_open_) opened_.set_value();
    is_open_ = true;
  }

 private:
  std::promise<void> opened_;
  bool is_open_ = false;
};

inline std::string repeat(char c, std::size_t n) { return std::string(n, c); }

}  // namespace charla::store::test
