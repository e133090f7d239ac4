#pragma once
// The engine: N workers, each a thread with an io_context and a FlowHost (one
// lua_State). A conversation always runs on the worker its key hashes to, and its
// events run one turn at a time, in inbox order (a mailbox per conversation).
//
// Invariants (DESIGN.md guarantees 1, 2, 3, 7):
//  - accept() reports success only after the events are durable in `inbox` (with
//    their dedup rows in `seen`); duplicates are reported and never delivered.
//  - A turn's effects (conversation record, history, outbox rows, timer rows and the
//    removal of its inbox entries or timer row) commit in one store transaction.
//    Outbound rows reach their channel only after that commit.
//  - At start, every inbox entry left by a previous run is delivered in seq order
//    before any new event, and due timers fire; pending outbox rows are re-dispatched.
#include "config/config.hpp"
#include "lua/flow_host.hpp"
#include "runtime/channel.hpp"
#include "runtime/clock.hpp"
#include "runtime/conversation.hpp"
#include "runtime/event.hpp"
#include "runtime/event_log.hpp"
#include "runtime/seen_pruning.hpp"
#include "store/store.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace charla::runtime {

struct EngineOptions {
  int workers = 2;
  // Niceness (0-19) of the worker threads on Linux. Above 0, turns take the CPU the HTTP
  // thread, the store writer and the sender leave, so a burst of webhooks is acknowledged
  // (durably) first and its turns run right after. 0: equal share.
  int worker_nice = 0;
  lua::HostOptions host;
  std::vector<std::filesystem::path> flows;
  std::string default_flow;                  // empty: the first flow
  std::size_t history_limit = 50;            // entries kept per conversation
  std::size_t conversation_cache = 4096;     // records cached per worker (LRU)
  std::chrono::milliseconds timer_tick{200}; // 0: no automatic timer polling (tests call tick_timers)
  std::chrono::milliseconds commit_retry{1000};  // delay before retrying a failed turn commit
  std::chrono::hours seen_retention{168};    // dedup rows older than this are pruned
  std::chrono::milliseconds seen_prune_every{std::chrono::hours(1)};  // by the poller; 0: only prune_seen()
  nlohmann::json plugins = nlohmann::json::object();  // name -> config block
  // An inbox entry whose turn was running when the process stopped this many times is
  // quarantined instead of run again (a poison message must not crash-loop the process).
  std::uint64_t inbox_max_attempts = 3;
  // Webhooks for business events (runtime/event_log.hpp); empty: events are not stored.
  std::vector<EventSubscription> event_webhooks;

  static EngineOptions from_config(const config::Config& config);
};

// A flow's ctx:emit call (name, payload), as committed with its turn.
using EmittedEvent = lua::EmittedEvent;

// What happened in one committed turn; observers get it on the worker thread.
struct TurnReport {
  std::string conversation, channel, account, user;
  std::string state;
  bool ok = true;
  std::string error;
  std::vector<OutboundRow> outbound;
  std::vector<std::uint64_t> inbox_seqs;   // inbound messages this turn consumed
  bool timer = false;                      // fired by a timer
  std::chrono::microseconds latency{0};    // first accepted -> committed
  std::vector<EmittedEvent> emitted;       // the flow's ctx:emit events, in order (not the engine's own)
};

// One set of loaded flows. Every generation is kept for the process's life (a few KB
// each), so a FlowInfo pointer from Engine::flow() stays valid across reloads.
struct FlowGeneration {
  std::uint64_t number = 1;                // 1: as loaded at start; +1 per successful reload
  std::int64_t loaded_ms = 0;              // wall clock
  std::vector<lua::FlowInfo> flows;
  std::vector<std::string> digests;        // per flow: FNV-1a of the file's bytes, hex
};

struct ReloadResult {
  bool ok = false;
  std::vector<std::string> errors;         // "file:line: message", one per failing flow
  std::uint64_t generation = 0;            // now in use (unchanged when !ok)
};

struct AcceptResult {
  std::string error;                       // non-empty: nothing was accepted (store failure)
  std::vector<std::uint64_t> seqs;         // per event: inbox seq, 0 for a duplicate
  std::size_t duplicates = 0;
};

struct EngineStats {
  std::uint64_t accepted = 0, duplicates = 0, turns = 0, turn_errors = 0, timers_fired = 0;
  std::uint64_t commit_failures = 0;
  std::uint64_t corrupt_rows = 0;          // stored rows that could not be read (logged, set aside)
  std::uint64_t quarantined_total = 0;     // inbox entries and conversations set aside since start
  std::uint64_t loop_exceptions = 0;       // exceptions that reached a worker's event loop
  std::size_t quarantined_messages = 0;    // in the quarantine db now
  std::size_t quarantined_conversations = 0;
  std::size_t active_conversations = 0;    // with a queued or running turn
  std::size_t suspended_turns = 0;         // waiting on a plugin
};

class Engine {
 public:
  Engine(EngineOptions options, store::Store& store, const Clock& clock);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void add_channel(Channel& channel);                 // before start()
  using TurnObserver = std::function<void(const TurnReport&)>;
  void add_turn_observer(TurnObserver observer);      // before start()
  // Runs once the flows are loaded, before any turn (a channel checking the flows its
  // config names); an exception from it makes start() fail with that exception.
  using FlowCheck = std::function<void(const std::vector<std::string>& loaded_flows)>;
  void add_flow_check(FlowCheck check);               // before start()

  // Loads the flows into every worker (throws lua::FlowError), starts the workers,
  // runs recovery (inbox, outbox, due timers) and the timer poller.
  void start();
  // Stops taking events, finishes running turns (suspended ones are cancelled and
  // retried at next start), flushes commits, joins the workers. Idempotent.
  void stop();

  // Durably appends the events to the inbox (dedup by channel + dedup_id), then
  // delivers them. `done` runs on the store's writer thread: keep it short.
  void accept(std::vector<InboundEvent> events, std::function<void(const AcceptResult&)> done);

  // Fires timers due at the clock's now (the poller calls this; tests call it directly).
  void tick_timers();

  // Deletes dedup rows older than seen_retention (the poller calls this every
  // seen_prune_every). `done` runs on the store's writer thread.
  void prune_seen(std::function<void(const SeenPruneResult&)> done = {});

  // Runs `fn` on the conversation's worker between turns (admin operations).
  void with_conversation(const std::string& conversation, std::function<void()> fn);
  // As with_conversation, but the conversation's turns (and later tasks) wait until
  // `fn` calls `release` (once; from any thread), e.g. after its own store commit, so
  // the next turn reads what it wrote (admin sends append to the history).
  using HeldTask = std::function<void(std::function<void()> release)>;
  void with_conversation_held(const std::string& conversation, HeldTask fn);

  // The quarantine (runtime/quarantine.hpp), for the admin API. `done` gets an HTTP
  // status and a message; it runs on the store's writer thread.
  using AdminDone = std::function<void(unsigned status, const std::string& message)>;
  nlohmann::json quarantine(std::string_view conversation = {}) const;
  // A message goes back to the inbox under its seq and runs (after what its
  // conversation has queued); a conversation is looked at again with its held events.
  void retry_quarantined(const std::string& id, AdminDone done);
  // Drops a quarantined message for good, or clears a conversation's mark (as retry).
  void delete_quarantined(const std::string& id, AdminDone done);
  // Deletes a conversation's record, history, timers and quarantine mark (readable or
  // not), on its worker between turns; its next event starts the flow afresh.
  void reset_conversation(const std::string& conversation, AdminDone done);

  // An operator change to one conversation, on its worker between turns: `write` runs
  // in a store transaction (it may run more than once: it rebuilds its effects from
  // what it reads); `then` runs on the worker once that committed (error empty) or
  // failed, before any other event of the conversation; the events it returns run first.
  using AdminWrite = std::function<void(store::WriteTxn&)>;
  using AdminThen = std::function<std::vector<InboundEvent>(const std::string& error)>;
  void admin_write(const std::string& conversation, AdminWrite write, AdminThen then);

  // Human handoff (engine_handoff.cpp). `done` gets 200 and the record as committed,
  // or a status (404 no such conversation, 400 unknown state, 409 unreadable record or
  // paused) and a message. It runs on the conversation's worker.
  using ConversationDone = std::function<void(unsigned status, const std::string& error, const Conversation* conv)>;
  // A human takes over: the flow stops answering, its timers are held.
  void pause_conversation(const std::string& key, std::optional<std::string> reason, ConversationDone done);
  // Back to the flow: held timers are re-armed (one whose time passed fires at once);
  // with a state, the conversation moves there and that state's `enter` runs.
  void resume_conversation(const std::string& key, std::optional<std::string> state, ConversationDone done);
  // Moves the conversation to `state`; with `enter`, runs that state's enter (409 while paused).
  void set_conversation_state(const std::string& key, const std::string& state, bool enter, ConversationDone done);

  // Hot reload (engine_reload.cpp): loads every configured flow file again, first into
  // a scratch Lua state. If any fails, nothing changes and the errors come back.
  // Otherwise every worker swaps to the new set between turns (running turns finish on
  // the old one) and `done` runs once all have: a turn started after that uses the new
  // flows. One reload at a time. `done` runs on some worker's thread (or the caller's).
  void reload_flows(std::function<void(const ReloadResult&)> done);
  nlohmann::json flows_status() const;   // the generation in use, for /admin/status

  const lua::FlowInfo* flow(const std::string& name) const;  // in the current generation
  const FlowGeneration& flow_generation() const;
  std::string default_flow() const;
  std::vector<std::string> flow_names() const;
  EngineStats stats() const;
  bool running() const;
  store::Store& store() { return store_; }
  const store::Store& store() const { return store_; }
  const Clock& clock() const { return clock_; }
  // Where admin operations and channels record events in their own transactions.
  const EventLog& events() const { return events_; }

 private:
  friend class Worker;
  class Worker& worker_for(const std::string& conversation);
  void deliver(InboundEvent event);
  void recover();
  void release_conversation(const std::string& conversation);  // its held events may run again
  void quarantine_unreadable_inbox(const std::vector<std::pair<std::uint64_t, std::string>>& rows);
  void turn_committed(const TurnReport& report, const std::string& fired_timer_key);
  void note_commit_failure();
  void note_corrupt_row();
  void note_quarantined();
  void note_loop_exception();
  void poll_timers_loop();

  EngineOptions options_;
  store::Store& store_;
  const Clock& clock_;
  std::map<std::string, Channel*> channels_;
  std::vector<TurnObserver> observers_;
  std::vector<FlowCheck> flow_checks_;
  std::vector<std::unique_ptr<class Worker>> workers_;
  void install_generation(std::vector<lua::FlowInfo> flows);
  std::vector<std::string> check_flow_set(const std::vector<lua::FlowInfo>& flows) const;
  mutable std::mutex flows_mutex_;
  std::vector<std::unique_ptr<const FlowGeneration>> generations_;  // guarded; never shrinks
  EventLog events_;
  std::atomic<bool> running_{false};
  std::atomic<bool> reloading_{false};
  struct Shared;
  std::unique_ptr<Shared> shared_;
};

}  // namespace charla::runtime
