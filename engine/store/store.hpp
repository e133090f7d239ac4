#pragma once
// The LMDB store: one environment, the named databases of DESIGN.md, one writer
// thread that group-commits many logical writes into one transaction.
//
// Invariants:
//  - Every write goes through submit()/write(); only the writer thread opens write
//    transactions. Each submitted WriteFn runs inside its own nested transaction, so
//    a WriteFn that throws aborts only its own writes; the others in the batch commit.
//  - A Done callback runs on the writer thread after the batch is durable (fsync'd
//    unless Options::durable is false), or with an error message if it is not.
//    Callbacks must be short: post real work to your own executor.
//  - Writes submitted with Priority::intake (webhook intake: a client waits for the
//    commit) go into the next batch ahead of every queued normal write, and a batch
//    holds at most max_normal_per_batch normal writes, so a commit stays short. Within
//    one priority, batches keep submission order; an intake write may therefore commit
//    before a normal write submitted earlier (never after).
//  - read() gives a read-only snapshot usable from any thread (MDB_NOTLS).
//  - MDB_MAP_FULL grows the map (doubling up to max_map_size) and retries the batch;
//    past max_map_size the batch fails with a message that names the limit.
//    So a WriteFn may run more than once: keep its side effects inside the transaction.
//  - meta holds "schema_version" (decimal ASCII) and the next_seq counters under
//    "seq/<counter>" (be64).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct MDB_env;
struct MDB_txn;

namespace charla::store {

namespace detail {
class Writer;  // engine/store/writer.hpp
}

// quarantine: inbox entries and conversations the engine will not run (runtime/quarantine.hpp).
// events: business events waiting for their webhooks (runtime/event_log.hpp). Added
// after schema 1 without a version change: opening creates it, an older binary ignores it.
// paused: the handoff index, one row per conversation paused for a human
// (runtime/handoff_index.hpp); added the same way.
enum class Db { inbox, seen, conv, history, outbox, outbox_by_wamid, timers, meta, quarantine, events, paused };
constexpr int kDbCount = 11;
// meta key present when `paused` lists every paused conversation. Opening a store with
// no conversations writes it (an empty index is complete); a store that has
// conversations but not the mark was written by an older charla, and the runtime
// builds the index from them (runtime::ensure_paused_index).
constexpr std::string_view kPausedIndexMark = "index/paused";
std::string_view db_name(Db db);

constexpr std::uint32_t kSchemaVersion = 1;

class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Another process holds the data dir's lock file: the message names the dir and its pid.
class DataDirInUse : public StoreError {
 public:
  using StoreError::StoreError;
};

// Big-endian encoding so byte order is numeric order and range scans work.
std::string be64(std::uint64_t v);
std::uint64_t from_be64(std::string_view bytes);  // requires bytes.size() >= 8

// Visitor for range scans: return false to stop.
using Visitor = std::function<bool(std::string_view key, std::string_view value)>;

class ReadTxn {
 public:
  ReadTxn(ReadTxn&&) noexcept;
  ReadTxn& operator=(ReadTxn&&) = delete;
  ~ReadTxn();  // aborts (read txns never commit)

  std::optional<std::string> get(Db db, std::string_view key) const;
  // Visits keys >= from in ascending order.
  void scan(Db db, std::string_view from, const Visitor& visit) const;
  // Visits keys starting with prefix in ascending order.
  void scan_prefix(Db db, std::string_view prefix, const Visitor& visit) const;
  // How many entries `db` holds in this snapshot (mdb_stat: O(1), no scan).
  std::uint64_t count(Db db) const;

 private:
  friend class Store;
  ReadTxn(MDB_txn* txn, const unsigned* dbis, std::shared_ptr<void> map_guard);
  MDB_txn* txn_;
  const unsigned* dbis_;
  std::shared_ptr<void> map_guard_;  // keeps the map from being resized while open
};

class WriteTxn {
 public:
  std::optional<std::string> get(Db db, std::string_view key) const;
  void put(Db db, std::string_view key, std::string_view value);
  bool del(Db db, std::string_view key);  // false if the key was absent
  void scan(Db db, std::string_view from, const Visitor& visit) const;
  void scan_prefix(Db db, std::string_view prefix, const Visitor& visit) const;
  // Monotonic counter kept in `meta` (e.g. "inbox_seq"); returns the next value, starting at 1.
  std::uint64_t next_seq(std::string_view counter);

 private:
  friend class Store;
  friend class detail::Writer;
  WriteTxn(MDB_txn* txn, const unsigned* dbis) : txn_(txn), dbis_(dbis) {}
  void check_write(int rc, std::string_view what, Db db);
  MDB_txn* txn_;
  const unsigned* dbis_;
  // Set when LMDB reported MDB_MAP_FULL, even if the WriteFn swallowed the exception:
  // the writer then grows the map and reruns the batch.
  bool map_full_ = false;
};

struct StoreStats {
  std::uint64_t commits = 0;          // LMDB transactions committed
  std::uint64_t writes = 0;           // WriteFns committed
  std::uint64_t failed_writes = 0;    // WriteFns that threw or whose batch failed
  std::uint64_t max_batch = 0;        // most WriteFns in one commit
  std::uint64_t map_size = 0;         // current map size in bytes
  // batch_histogram[i] counts commits with a batch size in [2^i, 2^(i+1))
  std::vector<std::uint64_t> batch_histogram;
  // True from the first batch the store could not commit until the next that it
  // could; commit_failure names the cause ("map full", "no space left on device", ...).
  bool commit_failing = false;
  std::string commit_failure;
};

class Store {
 public:
  struct Options {
    std::filesystem::path dir;
    std::uint64_t map_size = 1ull << 30;       // initial map size
    std::uint64_t max_map_size = 64ull << 30;  // growth stops here
    bool durable = true;                       // false: MDB_NOSYNC (tests, benchmarks only)
    std::size_t max_batch = 1024;              // WriteFns per commit at most
    std::size_t max_normal_per_batch = 256;    // normal-priority WriteFns per commit at most
  };

  enum class Priority { normal, intake };

  using WriteFn = std::function<void(WriteTxn&)>;
  // error is empty on success, else a human-readable reason.
  using Done = std::function<void(const std::string& error)>;

  // Creates the directory if missing, opens or creates the environment and the
  // databases, checks meta/schema_version; throws StoreError with a clear message.
  static std::unique_ptr<Store> open(Options options);
  ~Store();  // close()

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  ReadTxn read() const;  // throws StoreError after close()
  // After close(), done("store is closed") is called at once on the caller's thread.
  void submit(WriteFn fn, Done done, Priority priority = Priority::normal);
  // Submits and waits; throws StoreError if it failed. Not for use on the writer thread.
  void write(WriteFn fn);
  // Blocks until every write submitted before this call is committed.
  void flush();
  // Flushes, stops the writer thread and closes the environment. Idempotent.
  void close();

  StoreStats stats() const;
  const Options& options() const;

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace charla::store
