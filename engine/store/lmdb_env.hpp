#pragma once
// Internal to engine/store: the LMDB environment shared by the Store, its writer
// thread and every open ReadTxn. Not part of the public API.
//
// Lifetime: the Store, the writer and each ReadTxn hold a shared_ptr<Env>, so the
// environment is closed (mdb_env_close) only after the last read transaction ends,
// even if Store::close() runs first.
#include <lmdb.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "store/store.hpp"

namespace charla::store::detail {

std::string mdb_error(int rc);  // mdb_strerror, as a std::string
// Throws StoreError("<what>: <mdb_strerror(rc)>") unless rc is MDB_SUCCESS.
void check(int rc, std::string_view what);
// LMDB never writes through an MDB_val passed as input, hence the const_cast.
inline MDB_val as_val(std::string_view bytes) {
  return MDB_val{bytes.size(), const_cast<char*>(bytes.data())};
}
inline std::string_view as_view(const MDB_val& val) {
  return {static_cast<const char*>(val.mv_data), val.mv_size};
}
// "64 GiB", "512 KiB", "1000 bytes": for messages an operator reads.
std::string format_bytes(std::uint64_t bytes);

// A shared lock that any thread may release: a ReadTxn can be moved to another thread
// before it ends, and std::shared_mutex requires the locking thread to unlock.
// Writer-preferring, so a stream of short reads cannot starve a map resize.
class MapGate {
 public:
  void enter_read();  // throws StoreError once the gate is broken
  void leave_read();
  // Blocks new readers and waits until none is inside. False (and the gate reopened)
  // if readers are still inside after `timeout`.
  bool lock_exclusive(std::chrono::milliseconds timeout);
  void unlock_exclusive();
  // Instead of unlock_exclusive() when the map is gone: readers now fail with reason.
  void mark_broken(std::string reason);
  std::size_t readers() const;

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::size_t readers_ = 0;
  bool exclusive_ = false;  // held or awaited by the writer
  std::string broken_;
};

struct Env {
  // Creates the directory, opens the environment and the databases, checks
  // meta/schema_version. Throws StoreError naming the directory.
  static std::shared_ptr<Env> open(const Store::Options& options);
  Env() = default;
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;
  ~Env();

  std::uint64_t map_size() const;  // as LMDB currently maps it

  MDB_env* env = nullptr;
  MDB_dbi dbis[kDbCount] = {};
  MapGate gate;
  std::string registered_dir;  // canonical path, claimed in this process while open
  // <dir>/charla.lock, flock()ed for the environment's life: a second process on the
  // same data dir (two `charla serve`) is refused instead of both writing to it.
  int lock_fd = -1;
};

// Aborts the transaction on scope exit unless release()d (to commit it).
class TxnGuard {
 public:
  explicit TxnGuard(MDB_txn* txn) : txn_(txn) {}
  TxnGuard(const TxnGuard&) = delete;
  TxnGuard& operator=(const TxnGuard&) = delete;
  ~TxnGuard() {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
  }
  MDB_txn* get() const { return txn_; }
  MDB_txn* release() { return std::exchange(txn_, nullptr); }
  // Aborts the transaction held (if any) and holds `txn` instead.
  void reset(MDB_txn* txn) {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
    txn_ = txn;
  }

 private:
  MDB_txn* txn_;
};

}  // namespace charla::store::detail
