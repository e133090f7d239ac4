#pragma once
// Shared pieces for runtime tests: a channel that records what the engine
// dispatches, inbound events, and bounded waiting. Flows are written on the fly into
// a TempDir, which also holds the store's data dir.
#include "runtime/engine.hpp"
#include "support/temp_dir.hpp"

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace charla::testing {

using charla::test::TempDir;

class RecordingChannel final : public runtime::Channel {
 public:
  explicit RecordingChannel(std::string name = "test") : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  // Like a real channel, marks rows delivered so a restart does not re-dispatch them.
  void mark_delivered_in(store::Store& store) { store_ = &store; }
  void dispatch(std::vector<runtime::OutboundRow> rows) override {
    if (store_)
      store_->submit([rows](store::WriteTxn& t) { for (auto& r : rows) t.del(store::Db::outbox, store::be64(r.seq)); },
                     [](const std::string&) {});
    std::lock_guard lock(mutex_);
    for (auto& r : rows) {
      texts_[r.conversation].push_back(r.message.value("text", ""));
      ++count_;
    }
    cv_.notify_all();
  }
  std::vector<std::string> texts(const std::string& conversation) {
    std::lock_guard lock(mutex_);
    return texts_[conversation];
  }
  std::size_t count() {
    std::lock_guard lock(mutex_);
    return count_;
  }
  bool wait_for(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return count_ >= n; });
  }

 private:
  std::string name_;
  store::Store* store_ = nullptr;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<std::string, std::vector<std::string>> texts_;
  std::size_t count_ = 0;
};

inline runtime::InboundEvent text_event(const std::string& user, const std::string& text, const std::string& id = {},
                                        const std::string& channel = "test") {
  runtime::InboundEvent e;
  e.channel = channel;
  e.account = "acct";
  e.user = user;
  e.conversation = runtime::conversation_key(channel, "acct", user);
  e.dedup_id = id;
  e.payload = {{"id", id}, {"type", "text"}, {"text", text}, {"from", user}};
  e.accepted_at = std::chrono::steady_clock::now();
  return e;
}

// Accepts synchronously (waits for the durable ack).
inline runtime::AcceptResult accept_all(runtime::Engine& engine, std::vector<runtime::InboundEvent> events) {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  runtime::AcceptResult result;
  engine.accept(std::move(events), [&](const runtime::AcceptResult& r) {
    std::lock_guard lock(m);
    result = r;
    done = true;
    cv.notify_all();
  });
  std::unique_lock lock(m);
  cv.wait_for(lock, std::chrono::seconds(30), [&] { return done; });
  return result;
}

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

}  // namespace charla::testing
