#pragma once
// A worker: one thread, one io_context, one FlowHost (lua_State) and the plugin
// instances bound to that loop. It owns the mailboxes of the conversations that hash
// to it, so conversation state needs no locks: everything below runs on its thread.
#include "lua/flow_host.hpp"
#include "runtime/conversation.hpp"
#include "runtime/engine.hpp"
#include "runtime/lru_cache.hpp"
#include "runtime/turn_write.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace charla::runtime {

class Worker {
 public:
  Worker(Engine& engine, int index);
  ~Worker();

  void start();
  void post(InboundEvent event);
  void post_task(std::string conversation, std::function<void()> fn);
  // The mailbox counts as running from `fn` until it calls its release.
  void post_held_task(std::string conversation, Engine::HeldTask fn);
  // An operator write (Engine::admin_write): no turn of the conversation starts until
  // it has committed and `then` has run.
  void post_write(std::string conversation, Engine::AdminWrite write, Engine::AdminThen then);
  // Lifts a conversation's quarantine on this worker: its held events run again.
  void release(std::string conversation);
  // Cancels suspended turns (their events stay in the inbox) and waits until no turn
  // is running or committing, at most `grace`. Then stops the loop and joins.
  void stop(std::chrono::milliseconds grace);

  // Hot reload: swaps this worker's flows between turns; `done` gets the new set, or
  // the load error (then this worker keeps its flows). Runs on the worker's thread.
  using ReloadDone = std::function<void(std::vector<lua::FlowInfo> loaded, const std::string& error)>;
  void reload(std::vector<std::filesystem::path> files, ReloadDone done);
  const std::vector<lua::FlowInfo>& loaded_flows() const { return loaded_flows_; }
  std::size_t active_conversations() const { return active_.load(); }
  std::size_t suspended_turns() const { return suspended_.load(); }

 private:
  struct Mailbox {
    std::deque<InboundEvent> queue;
    std::deque<std::function<void()>> tasks;   // admin operations, run between turns
    bool running = false;
    bool debounce_armed = false;
    // The stored record could not be read: events wait here (and in the inbox) until
    // an operator retries or resets the conversation.
    bool quarantined = false;
    std::unique_ptr<boost::asio::steady_timer> timer;  // debounce or commit retry
  };
  struct Cached {
    Conversation conv;
    // Recent entries, oldest first (null: none yet). Turns read it through
    // TurnInput::history without a copy; only on_committed changes it, in place when no
    // turn or plugin call still holds it.
    std::shared_ptr<nlohmann::json> history;
  };
  struct TurnContext;

  void enqueue(InboundEvent event);
  void drain_arrivals();
  void start_next(const std::string& key);
  void finish_mailbox_if_idle(const std::string& key);
  bool should_debounce(Mailbox& box, const Conversation& conv, const std::string& key);
  std::vector<InboundEvent> take_batch(Mailbox& box, const Conversation& conv);
  Cached load(const std::string& key, const InboundEvent& first);
  void run(std::shared_ptr<TurnContext> turn);
  lua::TurnInput turn_input(const TurnContext& turn);
  void on_turn_result(std::shared_ptr<TurnContext> turn, lua::TurnResult result);
  void commit(std::shared_ptr<TurnContext> turn);
  void on_committed(std::shared_ptr<TurnContext> turn, const std::string& error);
  void retry_later(std::shared_ptr<TurnContext> turn);
  // worker_recovery.cpp: poison messages and unreadable conversations.
  void set_aside(const std::string& key, Mailbox& box, const std::string& reason);
  void charge_recovered(std::shared_ptr<TurnContext> turn);
  void on_charged(std::shared_ptr<TurnContext> turn, const std::vector<std::uint64_t>& dropped, const std::string& error);
  void end_turn_without_commit(const std::string& key);
  void note_clean_stop(const TurnContext& turn);
  void run_loop();

  Engine& engine_;
  int index_;
  boost::asio::io_context io_;
  std::unique_ptr<lua::FlowHost> host_;
  std::vector<lua::FlowInfo> loaded_flows_;  // in configuration order: the first is the default
  std::vector<std::unique_ptr<Plugin>> plugins_;
  std::unordered_map<std::string, Mailbox> mailboxes_;
  LruCache<std::string, Cached> cache_;
  std::thread thread_;
  // Events posted from other threads (the store writer delivering a commit's messages)
  // wait here for one drain handler instead of one asio handler each: a commit that
  // delivers dozens of messages wakes this worker once and takes the io_context's lock
  // once, not per message. Guarded by arrivals_mutex_.
  std::mutex arrivals_mutex_;
  std::vector<InboundEvent> arrivals_;
  bool drain_posted_ = false;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> active_{0};      // mailboxes with a running turn
  std::atomic<std::size_t> suspended_{0};
  std::uint64_t next_turn_id_ = 1;
};

// One turn in flight: the events it consumes, the record it started from, and what
// it will write.
struct Worker::TurnContext {
  std::string key;
  std::uint64_t id = 0;
  std::vector<InboundEvent> events;
  Cached cached;
  TurnPlan plan;
  TurnOutcome outcome;
  bool ok = true;
  std::string error;
  std::chrono::steady_clock::time_point accepted_at;
  std::vector<lua::EmittedEvent> emitted;  // the flow's ctx:emit events, for the TurnReport

  const InboundEvent& first() const { return events.front(); }
  bool is_timer() const { return first().kind == InboundEvent::Kind::timer; }
};

}  // namespace charla::runtime
