#pragma once
// Shared pieces for runtime tests: a channel that records what the engine
// dispatches, inbound events, and bounded waiting. Flows are written on the fly into
// a TempDir, which also holds the store's data dir.
#include "runtime/conversation.hpp"
#include "runtime/engine.hpp"
#include "support/temp_dir.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <map>
#include <mutex>
#include <optional>
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

// The setup engine-level tests share: a flow written into a TempDir, a store in it, a
// manual clock, a recording channel and an Engine on them (not started: a test adds its
// observers first). `tune` adjusts the store's and the engine's options before use
// (durable commits, event webhooks, budgets); the engine options are kept for restarts.
struct EngineRig {
  struct Tuning {
    std::function<void(store::Store::Options&)> store;
    std::function<void(runtime::EngineOptions&)> engine;
  };

  TempDir dir;
  std::unique_ptr<store::Store> store;
  runtime::ManualClock clock;
  RecordingChannel channel;
  runtime::EngineOptions options;
  std::unique_ptr<runtime::Engine> engine;

  explicit EngineRig(const std::string& flow_text, const Tuning& tune = {}) {
    auto flow = dir.write("flow.lua", flow_text);
    store::Store::Options so;
    so.dir = dir.path() / "data";
    if (tune.store) tune.store(so);
    store = store::Store::open(so);
    channel.mark_delivered_in(*store);
    options.workers = 2;
    options.flows = {flow};
    options.timer_tick = std::chrono::milliseconds(0);  // the test fires timers
    if (tune.engine) tune.engine(options);
    make_engine();
  }
  void make_engine() {
    engine = std::make_unique<runtime::Engine>(options, *store, clock);
    engine->add_channel(channel);
  }
  static std::string key(const std::string& user) { return runtime::conversation_key("test", "acct", user); }
  std::vector<std::string> texts(const std::string& user) { return channel.texts(key(user)); }
  // The stored record; nullopt when there is none.
  std::optional<runtime::Conversation> stored(const std::string& user) {
    auto raw = store->read().get(store::Db::conv, key(user));
    if (!raw) return std::nullopt;
    return runtime::Conversation::from_json(key(user), nlohmann::json::parse(*raw));
  }
};

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
