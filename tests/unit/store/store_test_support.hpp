#pragma once
// Shared helpers for the store tests: a fresh temporary data dir per test and a gate
// that holds the writer thread so that the next submissions land in one batch.
#include <stdlib.h>

#include <filesystem>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>

#include "store/store.hpp"

namespace charla::store::test {

class TempDir {
 public:
  TempDir() {
    std::string pattern = "/tmp/charla-store-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path data() const { return path_ / "data"; }

 private:
  std::filesystem::path path_;
};

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
