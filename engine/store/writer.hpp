#pragma once
// Internal to engine/store: the single writer thread. It drains the queue in batches
// of up to max_batch WriteFns (intake writes first, then at most max_normal_per_batch
// normal ones), runs each in a nested transaction of one parent
// transaction, commits the parent (one fsync per batch), then calls the Dones in
// batch order. Batches are processed in order, so a Done runs only after every write
// of its own priority submitted before it is durable (and every normal write only
// after every intake write submitted before it).
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "store/lmdb_env.hpp"

namespace charla::store::detail {

class Writer {
 public:
  Writer(std::shared_ptr<Env> env, const Store::Options& options);
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  ~Writer();  // stop()

  // After stop(), done("store is closed") is called at once on the caller's thread.
  void submit(Store::WriteFn fn, Store::Done done, bool intake = false);
  // done runs once everything submitted before it is committed (or failed).
  void submit_barrier(Store::Done done);
  // Drains the queue, joins the thread and drops the environment. Idempotent.
  void stop();
  bool on_writer_thread() const;
  StoreStats stats() const;

 private:
  struct Request {
    Store::WriteFn fn;
    Store::Done done;
    bool barrier = false;  // flush marker: no WriteFn, not counted in stats
    std::uint64_t intake_before = 0;  // barrier: intake writes queued before it
  };
  enum class Outcome { committed, map_full, failed };
  enum class Growth { grown, at_limit, blocked };

  void enqueue(Request request, bool intake);
  void run();
  void process(std::span<Request> batch);
  Outcome try_commit(std::span<Request> batch, std::vector<std::string>& errors,
                     std::string& batch_error);
  bool run_nested(MDB_txn* parent, const Store::WriteFn& fn, std::string& error);
  // Runs the batch's WriteFns in `txn` itself, stopping at the first that throws.
  enum class Flat { done, map_full, threw };
  Flat run_flat(MDB_txn* txn, std::span<Request> batch);
  Growth grow_map(std::string& error);
  void record(std::span<Request> batch, const std::vector<std::string>& errors,
              const std::string& batch_error);
  void note_health(const std::string& batch_error);
  static void finish(std::span<Request> batch, const std::vector<std::string>& errors,
                     const std::string& batch_error);

  std::shared_ptr<Env> env_;
  const std::uint64_t max_map_size_;
  const std::size_t max_batch_;
  const std::size_t max_normal_;

  std::mutex queue_mutex_;
  std::condition_variable queue_changed_;
  std::deque<Request> intake_queue_;  // taken first into every batch
  std::deque<Request> queue_;         // normal writes and barriers
  std::uint64_t intake_queued_ = 0;   // intake writes ever queued
  std::uint64_t intake_taken_ = 0;    // intake writes ever taken into a batch
  bool stopping_ = false;

  std::mutex stop_mutex_;  // serializes stop() callers around join()
  std::thread thread_;
  std::atomic<std::thread::id> writer_id_;
  std::string broken_;  // writer thread only: set if the map could not be remapped
  std::string failure_cause_;  // writer thread only: why the last batch failed, short

  mutable std::mutex stats_mutex_;
  StoreStats stats_;
};

}  // namespace charla::store::detail
