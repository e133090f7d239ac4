// Store: opens the environment, hands out read snapshots and forwards writes to the
// writer thread (engine/store/writer.cpp).
#include "store/store.hpp"

#include <future>
#include <mutex>

#include "log/log.hpp"
#include "store/lmdb_env.hpp"
#include "store/writer.hpp"

namespace charla::store {

struct Store::Impl {
  Options options;
  std::unique_ptr<detail::Writer> writer;
  std::mutex close_mutex;  // serializes close() callers
  mutable std::mutex env_mutex;
  std::shared_ptr<detail::Env> env;  // under env_mutex; null once closed

  std::shared_ptr<detail::Env> current_env() const {
    std::lock_guard lock(env_mutex);
    return env;
  }
  std::shared_ptr<detail::Env> take_env() {
    std::lock_guard lock(env_mutex);
    return std::move(env);
  }
  // write(), flush() and close() wait for the writer, so on its thread they would hang.
  void refuse_on_writer_thread(std::string_view what) const {
    if (writer->on_writer_thread())
      throw StoreError("Store::" + std::string(what) +
                       " called on the store's writer thread (from a WriteFn or Done); "
                       "it would wait for itself");
  }
};

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::unique_ptr<Store> Store::open(Options options) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->env = detail::Env::open(impl->options);
  impl->writer = std::make_unique<detail::Writer>(impl->env, impl->options);
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Store::~Store() {
  try {
    close();
  } catch (const std::exception& e) {
    log::error("store_close_failed", {{"error", e.what()}});
  }
}

ReadTxn Store::read() const {
  std::shared_ptr<detail::Env> env = impl_->current_env();
  if (!env) throw StoreError("store is closed");
  env->gate.enter_read();
  // The guard also keeps the environment open until this snapshot ends.
  std::shared_ptr<void> guard(env.get(), [env](void*) { env->gate.leave_read(); });
  MDB_txn* txn = nullptr;
  detail::check(mdb_txn_begin(env->env, nullptr, MDB_RDONLY, &txn),
                "cannot begin read transaction");
  return ReadTxn(txn, env->dbis, std::move(guard));
}

void Store::submit(WriteFn fn, Done done, Priority priority) {
  impl_->writer->submit(std::move(fn), std::move(done), priority == Priority::intake);
}

void Store::write(WriteFn fn) {
  impl_->refuse_on_writer_thread("write()");
  // Shared, so the promise outlives the writer's set_value even after get() returns.
  auto result = std::make_shared<std::promise<std::string>>();
  std::future<std::string> error = result->get_future();
  submit(std::move(fn), [result](const std::string& e) { result->set_value(e); });
  if (std::string e = error.get(); !e.empty()) throw StoreError(e);
}

void Store::flush() {
  impl_->refuse_on_writer_thread("flush()");
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> flushed = done->get_future();
  // After close() the barrier fails at once with "store is closed": nothing is pending.
  impl_->writer->submit_barrier([done](const std::string&) { done->set_value(); });
  flushed.wait();
}

void Store::close() {
  std::lock_guard lock(impl_->close_mutex);
  if (!impl_->current_env()) return;
  impl_->refuse_on_writer_thread("close()");
  impl_->writer->stop();  // commits everything already submitted
  std::shared_ptr<detail::Env> env = impl_->take_env();
  if (std::size_t readers = env->gate.readers(); readers > 0)
    log::warn("store_closed_with_open_reads", {{"readers", readers}});
}

StoreStats Store::stats() const { return impl_->writer->stats(); }

const Store::Options& Store::options() const { return impl_->options; }

}  // namespace charla::store
