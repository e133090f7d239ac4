#include "store/writer.hpp"

#include <algorithm>
#include <bit>
#include <cerrno>

#include "log/log.hpp"
#include "log/thread_name.hpp"

namespace charla::store::detail {
namespace {

// How long a map resize waits for open read transactions before the batch fails.
// A thread that holds a ReadTxn while waiting on write() would otherwise deadlock.
constexpr std::chrono::seconds kResizeWait{10};

// The short cause an operator greps for, from an LMDB or errno code.
std::string cause_of(int rc) {
  switch (rc) {
    case MDB_MAP_FULL: return "map full";
    case ENOSPC: return "no space left on device";
    case EDQUOT: return "disk quota exceeded";
    case EIO: return "I/O error";
    default: return mdb_error(rc);
  }
}

}  // namespace

Writer::Writer(std::shared_ptr<Env> env, const Store::Options& options)
    : env_(std::move(env)),
      max_map_size_(options.max_map_size),
      max_batch_(std::max<std::size_t>(options.max_batch, 1)),
      max_normal_(std::clamp<std::size_t>(options.max_normal_per_batch, 1, max_batch_)) {
  stats_.map_size = env_->map_size();
  stats_.batch_histogram.assign(std::bit_width(max_batch_), 0);
  thread_ = std::thread([this] {
    log::name_this_thread("writer");
    run();
  });
  writer_id_ = thread_.get_id();
}

Writer::~Writer() { stop(); }

void Writer::submit(Store::WriteFn fn, Store::Done done, bool intake) {
  enqueue(Request{std::move(fn), std::move(done), false}, intake);
}

// A barrier waits in the normal queue: every intake write queued before it is taken
// into the same batch or an earlier one.
void Writer::submit_barrier(Store::Done done) { enqueue(Request{{}, std::move(done), true}, false); }

void Writer::enqueue(Request request, bool intake) {
  {
    std::lock_guard lock(queue_mutex_);
    if (!stopping_) {
      if (intake) ++intake_queued_;
      if (request.barrier) request.intake_before = intake_queued_;
      (intake ? intake_queue_ : queue_).push_back(std::move(request));
      queue_changed_.notify_one();
      return;
    }
  }
  if (request.done) request.done("store is closed");
}

void Writer::stop() {
  std::lock_guard stop_lock(stop_mutex_);
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = true;
  }
  queue_changed_.notify_all();
  if (thread_.joinable()) thread_.join();
  writer_id_ = std::thread::id();  // ids are reused by later threads
  env_.reset();
}

bool Writer::on_writer_thread() const { return writer_id_.load() == std::this_thread::get_id(); }

StoreStats Writer::stats() const {
  std::lock_guard lock(stats_mutex_);
  return stats_;
}

// Everything queued before stop() is still committed: the loop ends only when both
// queues are empty. Intake writes (a client waits for their commit) go first into each
// batch; normal writes fill the batch up to max_normal_ so that a commit, and with it
// the wait of the next intake write, stays short.
void Writer::run() {
  std::vector<Request> batch;
  for (;;) {
    {
      std::unique_lock lock(queue_mutex_);
      queue_changed_.wait(lock, [&] { return !queue_.empty() || !intake_queue_.empty() || stopping_; });
      if (queue_.empty() && intake_queue_.empty()) return;
      // With normal writes waiting, intake leaves them room: neither starves the other.
      const std::size_t intake_cap = queue_.empty() || max_normal_ == max_batch_ ? max_batch_ : max_batch_ - max_normal_;
      std::size_t writes = 0;
      while (!intake_queue_.empty() && writes < intake_cap) {
        ++writes;
        ++intake_taken_;
        batch.push_back(std::move(intake_queue_.front()));
        intake_queue_.pop_front();
      }
      std::size_t normal = 0;
      while (!queue_.empty() && writes < max_batch_ && normal < max_normal_) {
        // A barrier waits until every intake write queued before it has been taken.
        if (queue_.front().barrier && intake_taken_ < queue_.front().intake_before) break;
        const std::size_t n = queue_.front().barrier ? 0 : 1;
        writes += n;
        normal += n;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    try {
      process(batch);
    } catch (const std::exception& e) {  // e.g. bad_alloc: keep the writer alive
      log::error("store_writer_error", {{"error", e.what()}});
    }
    batch.clear();
  }
}

void Writer::process(std::span<Request> batch) {
  std::vector<std::string> errors(batch.size());
  std::string batch_error = broken_;
  failure_cause_ = broken_.empty() ? "" : "map resize failed";
  const auto writes = static_cast<std::size_t>(std::ranges::count(batch, false, &Request::barrier));
  while (writes > 0 && batch_error.empty()) {
    Outcome outcome = Outcome::failed;
    try {
      outcome = try_commit(batch, errors, batch_error);
    } catch (const std::exception& e) {
      batch_error = e.what();
    }
    if (outcome != Outcome::map_full) break;
    Growth growth = grow_map(batch_error);
    if (growth == Growth::grown) continue;
    if (growth == Growth::at_limit && writes > 1) {
      // One oversized write must not fail its neighbours: commit each on its own.
      for (Request& request : batch) process({&request, 1});
      return;
    }
  }
  record(batch, errors, batch_error);
  if (writes > 0) note_health(batch_error);
  finish(batch, errors, batch_error);
}

// Logs only when the store starts or stops failing (or the cause changes): a full
// disk must not turn every retried turn into a log line. /readyz reads the state.
void Writer::note_health(const std::string& batch_error) {
  const bool failing = !batch_error.empty();
  const std::string cause = !failing ? std::string() : failure_cause_.empty() ? batch_error : failure_cause_;
  {
    std::lock_guard lock(stats_mutex_);
    if (stats_.commit_failing == failing && stats_.commit_failure == cause) return;
    stats_.commit_failing = failing;
    stats_.commit_failure = cause;
  }
  if (failing)
    log::error("store_commit_failing", {{"cause", cause}, {"error", batch_error}});
  else
    log::info("store_commit_recovered", {});
}

// One parent transaction for the batch. errors[i] is set for each WriteFn rolled
// back on its own; batch_error when the whole batch failed.
Writer::Outcome Writer::try_commit(std::span<Request> batch, std::vector<std::string>& errors,
                                   std::string& batch_error) {
  std::fill(errors.begin(), errors.end(), std::string());
  failure_cause_.clear();
  MDB_txn* parent = nullptr;
  int rc = mdb_txn_begin(env_->env, nullptr, 0, &parent);
  if (rc != MDB_SUCCESS) {
    batch_error = "cannot begin write transaction: " + mdb_error(rc);
    failure_cause_ = cause_of(rc);
    return Outcome::failed;
  }
  TxnGuard guard(parent);
  // First every WriteFn straight in the batch's transaction: a nested transaction each
  // (begin and commit) cost a tenth of this thread's time at full intake. Only when one
  // throws, which is rare (an unreadable row, a bug), is the batch dropped and run again
  // with each WriteFn nested, so that only the failing one's writes are lost. WriteFns
  // are written to run more than once already: a full map retries the whole batch.
  switch (run_flat(parent, batch)) {
    case Flat::done:
      break;
    case Flat::map_full:
      return Outcome::map_full;
    case Flat::threw: {
      mdb_txn_abort(guard.release());
      rc = mdb_txn_begin(env_->env, nullptr, 0, &parent);
      if (rc != MDB_SUCCESS) {
        batch_error = "cannot begin write transaction: " + mdb_error(rc);
        failure_cause_ = cause_of(rc);
        return Outcome::failed;
      }
      guard.reset(parent);
      for (std::size_t i = 0; i < batch.size(); ++i) {
        if (!batch[i].barrier && run_nested(parent, batch[i].fn, errors[i])) return Outcome::map_full;
      }
      break;
    }
  }
  rc = mdb_txn_commit(guard.release());
  if (rc == MDB_MAP_FULL) return Outcome::map_full;
  if (rc != MDB_SUCCESS) {
    batch_error = "commit failed: " + mdb_error(rc);
    failure_cause_ = cause_of(rc);
    return Outcome::failed;
  }
  return Outcome::committed;
}

Writer::Flat Writer::run_flat(MDB_txn* txn_handle, std::span<Request> batch) {
  WriteTxn txn(txn_handle, env_->dbis);
  for (Request& request : batch) {
    if (request.barrier) continue;
    try {
      request.fn(txn);
    } catch (...) {
      return txn.map_full_ ? Flat::map_full : Flat::threw;
    }
    if (txn.map_full_) return Flat::map_full;
  }
  return Flat::done;
}

// Runs fn in a transaction nested in parent, so that if it throws only its own writes
// are rolled back. Returns true if LMDB ran out of map space (the caller retries the
// whole batch); otherwise error is empty or says why fn's writes were dropped.
bool Writer::run_nested(MDB_txn* parent, const Store::WriteFn& fn, std::string& error) {
  MDB_txn* child = nullptr;
  int rc = mdb_txn_begin(env_->env, parent, 0, &child);
  if (rc != MDB_SUCCESS) {
    error = "cannot begin nested transaction: " + mdb_error(rc);
    return false;
  }
  TxnGuard guard(child);
  WriteTxn txn(child, env_->dbis);
  bool threw = true;
  try {
    fn(txn);
    threw = false;
  } catch (const std::exception& e) {
    error = e.what();
  } catch (...) {
    error = "unknown exception";
  }
  if (txn.map_full_) return true;
  if (threw) {
    if (error.empty()) error = "WriteFn threw an exception without a message";
    return false;
  }
  rc = mdb_txn_commit(guard.release());
  if (rc == MDB_MAP_FULL) return true;
  if (rc != MDB_SUCCESS) error = "commit of nested transaction failed: " + mdb_error(rc);
  return false;
}

// Called with no transaction open in this process (LMDB requires it); the gate keeps
// readers out while the map is remapped.
Writer::Growth Writer::grow_map(std::string& error) {
  const std::uint64_t current = env_->map_size();
  failure_cause_ = cause_of(MDB_MAP_FULL);
  if (current >= max_map_size_) {
    error = "LMDB map is full (max_map_size " + format_bytes(max_map_size_) +
            " reached); raise store.max_map_size";
    return Growth::at_limit;
  }
  const std::uint64_t target = current > max_map_size_ / 2 ? max_map_size_ : current * 2;
  if (!env_->gate.lock_exclusive(kResizeWait)) {
    error = "LMDB map is full and cannot grow to " + format_bytes(target) +
            ": read transactions stayed open for " + std::to_string(kResizeWait.count()) + " s";
    return Growth::blocked;
  }
  int rc = mdb_env_set_mapsize(env_->env, target);
  if (rc != MDB_SUCCESS) {
    // LMDB has already unmapped the old map: any further use would crash.
    broken_ = "store unusable after a failed map resize to " + format_bytes(target) + ": " +
              mdb_error(rc);
    env_->gate.mark_broken(broken_);
    error = broken_;
    log::error("store_map_resize_failed", {{"error", broken_}});
    return Growth::blocked;
  }
  env_->gate.unlock_exclusive();
  const std::uint64_t grown = env_->map_size();
  {
    std::lock_guard lock(stats_mutex_);
    stats_.map_size = grown;
  }
  log::info("store_map_grown", {{"from_bytes", current}, {"to_bytes", grown}});
  return Growth::grown;
}

void Writer::record(std::span<Request> batch, const std::vector<std::string>& errors,
                    const std::string& batch_error) {
  std::uint64_t writes = 0;
  std::uint64_t committed = 0;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].barrier) continue;
    ++writes;
    if (batch_error.empty() && errors[i].empty()) ++committed;
  }
  if (writes == 0) return;
  std::lock_guard lock(stats_mutex_);
  stats_.writes += committed;
  stats_.failed_writes += writes - committed;
  if (!batch_error.empty()) return;
  ++stats_.commits;
  stats_.max_batch = std::max(stats_.max_batch, writes);
  const std::size_t bucket = std::bit_width(writes) - 1;
  ++stats_.batch_histogram[std::min(bucket, stats_.batch_histogram.size() - 1)];
}

void Writer::finish(std::span<Request> batch, const std::vector<std::string>& errors,
                    const std::string& batch_error) {
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!batch[i].done) continue;
    try {
      batch[i].done(batch_error.empty() ? errors[i] : batch_error);
    } catch (const std::exception& e) {
      log::error("store_done_threw", {{"error", e.what()}});
    } catch (...) {
      log::error("store_done_threw", {{"error", "unknown exception"}});
    }
  }
}

}  // namespace charla::store::detail
