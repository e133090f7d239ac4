#include "runtime/engine.hpp"

#include "log/log.hpp"
#include "log/thread_name.hpp"
#include "runtime/conversation.hpp"
#include "runtime/handoff_index.hpp"
#include "runtime/quarantine.hpp"
#include "runtime/worker.hpp"

#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

namespace charla::runtime {

using nlohmann::json;

struct Engine::Shared {
  std::mutex timers_mutex;
  std::set<std::string> timers_in_flight;  // delivered, not yet consumed by a commit
  std::atomic<std::uint64_t> accepted{0}, duplicates{0}, turns{0}, turn_errors{0}, timers_fired{0},
      commit_failures{0}, corrupt_rows{0}, quarantined{0}, loop_exceptions{0};
  std::thread poller;
  std::mutex poller_mutex;
  std::condition_variable poller_wake;
  bool poller_stop = false;
  std::atomic<bool> pruning{false};  // one seen prune at a time
};

EngineOptions EngineOptions::from_config(const config::Config& c) {
  EngineOptions o;
  o.workers = c.workers > 0 ? c.workers : std::max(1u, std::thread::hardware_concurrency());
  o.worker_nice = c.worker_nice;
  o.host.instruction_budget = c.lua.instruction_budget;
  o.host.memory_limit = static_cast<std::size_t>(c.lua.memory_limit_mb) << 20;
  o.host.fallback_text = c.lua.fallback_text;
  o.host.turn_time_budget = std::chrono::milliseconds(c.lua.turn_time_budget_ms);
  o.host.history_limit = static_cast<std::size_t>(c.store.history_limit);
  o.host.flow_settings = c.flow_settings;
  o.flows = c.flows;
  o.default_flow = c.default_flow;
  o.history_limit = static_cast<std::size_t>(c.store.history_limit);
  o.seen_retention = std::chrono::hours(c.store.seen_retention_hours);
  o.plugins = c.plugins;
  o.inbox_max_attempts = static_cast<std::uint64_t>(c.store.inbox_max_attempts);
  for (const auto& hook : c.events.webhooks) o.event_webhooks.push_back({hook.url, hook.events});
  return o;
}

Engine::Engine(EngineOptions options, store::Store& store, const Clock& clock)
    : options_(std::move(options)),
      store_(store),
      clock_(clock),
      events_(options_.event_webhooks),
      shared_(std::make_unique<Shared>()) {}

Engine::~Engine() { stop(); }

void Engine::add_channel(Channel& channel) { channels_[channel.name()] = &channel; }
void Engine::add_turn_observer(TurnObserver observer) { observers_.push_back(std::move(observer)); }
void Engine::add_flow_check(FlowCheck check) { flow_checks_.push_back(std::move(check)); }

void Engine::start() {
  if (options_.flows.empty()) throw std::runtime_error("no flow configured: pass --flow FILE or set 'flows' in config");
  for (int i = 0; i < std::max(1, options_.workers); ++i) workers_.push_back(std::make_unique<Worker>(*this, i));
  install_generation(workers_.front()->loaded_flows());
  if (!options_.default_flow.empty() && !flow(options_.default_flow))
    throw std::runtime_error("default flow '" + options_.default_flow + "' is not among the loaded flows");
  for (auto& check : flow_checks_) check(flow_names());
  ensure_paused_index(store_);  // once, on a data dir from before the handoff index
  for (auto& w : workers_) w->start();
  running_ = true;
  recover();
  if (options_.timer_tick.count() > 0) shared_->poller = std::thread([this] {
    log::name_this_thread("timers");
    poll_timers_loop();
  });
}

void Engine::stop() {
  if (!running_.exchange(false)) return;
  {
    std::lock_guard lock(shared_->poller_mutex);
    shared_->poller_stop = true;
  }
  shared_->poller_wake.notify_all();
  if (shared_->poller.joinable()) shared_->poller.join();
  for (auto& w : workers_) w->stop(std::chrono::seconds(10));
  store_.flush();
  log::info("engine_stopped", {{"turns", shared_->turns.load()}});
}

bool Engine::running() const { return running_.load(); }

Worker& Engine::worker_for(const std::string& conversation) {
  return *workers_[std::hash<std::string>{}(conversation) % workers_.size()];
}

void Engine::deliver(InboundEvent event) {
  auto& w = worker_for(event.conversation);
  w.post(std::move(event));
}

void Engine::with_conversation(const std::string& conversation, std::function<void()> fn) {
  worker_for(conversation).post_task(conversation, std::move(fn));
}

void Engine::with_conversation_held(const std::string& conversation, HeldTask fn) {
  worker_for(conversation).post_held_task(conversation, std::move(fn));
}

void Engine::accept(std::vector<InboundEvent> events, std::function<void(const AcceptResult&)> done) {
  if (!running_) {
    AcceptResult r;
    r.error = "engine is not running";
    return done(r);
  }
  const auto now = clock_.now_ms();
  // The rows are serialized here, on the caller's (HTTP) thread: the writer only adds
  // the seq it assigns. rows[i] is the event's JSON without "seq", from its '{' on.
  auto rows = std::make_shared<std::vector<std::string>>();
  rows->reserve(events.size());
  for (auto& e : events) {
    if (!e.received_ms) e.received_ms = now;
    rows->push_back(e.dump_without_seq());
  }
  auto batch = std::make_shared<std::vector<InboundEvent>>(std::move(events));
  auto result = std::make_shared<AcceptResult>();
  // Intake priority: the webhook's 200 waits for this commit, not behind queued turns.
  store_.submit(
      [batch, rows, result, now](store::WriteTxn& txn) {
        *result = AcceptResult{};
        for (std::size_t i = 0; i < batch->size(); ++i) {
          auto& e = (*batch)[i];
          std::string seen_key;
          if (!e.dedup_id.empty()) {
            seen_key = e.channel + ":" + e.dedup_id;
            if (txn.get(store::Db::seen, seen_key)) {
              result->seqs.push_back(0);
              ++result->duplicates;
              continue;
            }
          }
          e.seq = txn.next_seq("inbox");
          const std::string& row = (*rows)[i];
          std::string value;
          value.reserve(row.size() + 28);
          value.append("{\"seq\":").append(std::to_string(e.seq));
          if (row.size() > 2) value.push_back(',');
          value.append(row, 1, std::string::npos);
          txn.put(store::Db::inbox, store::be64(e.seq), value);
          if (!seen_key.empty()) txn.put(store::Db::seen, seen_key, store::be64(e.seq) + store::be64(now));
          result->seqs.push_back(e.seq);
        }
      },
      [this, batch, result, done = std::move(done)](const std::string& error) {
        if (!error.empty()) {
          AcceptResult failed;
          failed.error = error;
          // A failing store has logged its cause once (store_commit_failing).
          log::write(store_.stats().commit_failing ? log::Level::debug : log::Level::error, "intake_commit_failed",
                     {{"error", error}, {"events", batch->size()}});
          return done(failed);
        }
        shared_->accepted += batch->size() - result->duplicates;
        shared_->duplicates += result->duplicates;
        for (std::size_t i = 0; i < batch->size(); ++i)
          if (result->seqs[i]) deliver(std::move((*batch)[i]));
        done(*result);
      },
      store::Store::Priority::intake);
}

void Engine::recover() {
  // Replies left pending by the previous run go to their channels before any
  // recovered turn runs: a turn's new replies must queue behind the older ones of its
  // conversation (order per recipient), and a row a recovered turn commits (and
  // dispatches itself) must not be found by this scan and dispatched a second time.
  std::map<std::string, std::vector<OutboundRow>> outbox;
  {
    auto txn = store_.read();
    txn.scan(store::Db::outbox, "", [&](std::string_view key, std::string_view value) {
      // A row this version cannot read stays where it is (an operator can look at it);
      // it is logged and counted, and every other row is still sent.
      try {
        auto j = json::parse(value);
        if (j.value("status", "") == "pending")
          outbox[j.value("channel", "")].push_back(OutboundRow::from_json(store::from_be64(key), j));
      } catch (const std::exception& e) {
        note_corrupt_row();
        log::error("outbox_row_unreadable", {{"seq", key.size() == 8 ? store::from_be64(key) : 0}, {"error", e.what()}});
      }
      return true;
    });
  }
  for (auto& [channel, rows] : outbox) {
    log::info("recovering_outbox", {{"channel", channel}, {"messages", rows.size()}});
    if (auto it = channels_.find(channel); it != channels_.end()) it->second->dispatch(std::move(rows));
  }

  std::vector<InboundEvent> pending;
  std::vector<std::pair<std::uint64_t, std::string>> unreadable;  // seq, reason
  {
    auto txn = store_.read();
    txn.scan(store::Db::inbox, "", [&](std::string_view key, std::string_view value) {
      if (key.size() != 8) {  // not a key charla writes: leave it, say so
        note_corrupt_row();
        log::error("inbox_key_unreadable", {{"key_bytes", key.size()}});
        return true;
      }
      try {
        pending.push_back(InboundEvent::from_json(json::parse(value)));
        pending.back().seq = store::from_be64(key);  // the key is authoritative
        pending.back().recovered = true;  // its turn may be what stopped the last process
      } catch (const std::exception& e) {
        unreadable.emplace_back(store::from_be64(key), std::string("unreadable inbox row: ") + e.what());
      }
      return true;
    });
  }
  if (!unreadable.empty()) quarantine_unreadable_inbox(unreadable);
  if (!pending.empty()) log::info("recovering_inbox", {{"events", pending.size()}});
  for (auto& e : pending) deliver(std::move(e));
  tick_timers();
}

// Rows this version cannot read would be skipped at every start, forever and unseen:
// they move to the quarantine with their bytes, where the admin API shows them.
void Engine::quarantine_unreadable_inbox(const std::vector<std::pair<std::uint64_t, std::string>>& rows) {
  const auto now = clock_.now_ms();
  try {
    store_.write([&](store::WriteTxn& txn) {
      for (auto& [seq, reason] : rows)
        if (auto raw = txn.get(store::Db::inbox, store::be64(seq))) quarantine_inbox_row(txn, seq, *raw, reason, now);
    });
  } catch (const std::exception& e) {  // they stay in the inbox, skipped, and are tried again next start
    log::error("quarantine_write_failed", {{"error", e.what()}});
  }
  for (auto& [seq, reason] : rows) {
    note_corrupt_row();
    note_quarantined();
    log::error("inbox_entry_quarantined", {{"seq", seq}, {"reason", reason}});
  }
}

void Engine::tick_timers() {
  if (!running_) return;
  const auto now = static_cast<std::uint64_t>(clock_.now_ms());
  std::vector<InboundEvent> due;
  {
    auto txn = store_.read();
    std::lock_guard lock(shared_->timers_mutex);
    txn.scan(store::Db::timers, "", [&](std::string_view key, std::string_view value) {
      TimerKey k;
      if (!parse_timer_key(key, k)) return true;
      if (static_cast<std::uint64_t>(k.due_ms) > now) return false;
      if (!shared_->timers_in_flight.insert(std::string(key)).second) return true;
      InboundEvent e;
      e.kind = InboundEvent::Kind::timer;
      e.conversation = k.conversation;
      auto v = json::parse(value, nullptr, false);
      if (!v.is_object()) {  // the timer still fires (its name is in the key), without its payload
        note_corrupt_row();
        log::error("timer_row_unreadable", {{"conversation", k.conversation}, {"timer", k.name}});
        v = json::object();
      }
      e.payload = {{"name", k.name}, {"due_ms", k.due_ms},
                   {"payload", v.value("payload", json())}};
      e.received_ms = static_cast<std::int64_t>(now);
      e.accepted_at = std::chrono::steady_clock::now();
      due.push_back(std::move(e));
      return true;
    });
  }
  shared_->timers_fired += due.size();
  for (auto& e : due) deliver(std::move(e));
}

void Engine::poll_timers_loop() {
  // The first prune runs soon after start: a process restarted often must prune too.
  auto next_prune = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::unique_lock lock(shared_->poller_mutex);
  while (!shared_->poller_stop) {
    shared_->poller_wake.wait_for(lock, options_.timer_tick);
    if (shared_->poller_stop) break;
    lock.unlock();
    try {
      tick_timers();
      if (options_.seen_prune_every.count() > 0 && std::chrono::steady_clock::now() >= next_prune) {
        next_prune = std::chrono::steady_clock::now() + options_.seen_prune_every;
        prune_seen();
      }
    } catch (const std::exception& e) {
      log::error("timer_poll_failed", {{"error", e.what()}});
    }
    lock.lock();
  }
}

void Engine::prune_seen(std::function<void(const SeenPruneResult&)> done) {
  if (shared_->pruning.exchange(true)) {
    if (done) done(SeenPruneResult{0, 0, "a prune is already running"});
    return;
  }
  const auto cutoff = clock_.now_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(options_.seen_retention).count();
  runtime::prune_seen(store_, cutoff, 4096, [this, done = std::move(done)](const SeenPruneResult& r) {
    shared_->pruning = false;
    if (!r.error.empty())
      log::error("seen_prune_failed", {{"error", r.error}, {"pruned", r.pruned}});
    else if (r.pruned > 0)
      log::info("seen_pruned", {{"pruned", r.pruned}, {"kept", r.visited - r.pruned}});
    if (done) done(r);
  });
}

void Engine::turn_committed(const TurnReport& report, const std::string& fired_timer_key) {
  ++shared_->turns;
  if (!report.ok) ++shared_->turn_errors;
  if (!fired_timer_key.empty()) {
    std::lock_guard lock(shared_->timers_mutex);
    shared_->timers_in_flight.erase(fired_timer_key);
  }
  for (auto& o : observers_) o(report);
}

void Engine::note_commit_failure() { ++shared_->commit_failures; }
void Engine::note_corrupt_row() { ++shared_->corrupt_rows; }
void Engine::note_quarantined() { ++shared_->quarantined; }
void Engine::note_loop_exception() { ++shared_->loop_exceptions; }

const lua::FlowInfo* Engine::flow(const std::string& name) const {
  const auto& generation = flow_generation();
  for (auto& f : generation.flows)
    if (f.name == name) return &f;
  return nullptr;
}

const FlowGeneration& Engine::flow_generation() const {
  static const FlowGeneration none;
  std::lock_guard lock(flows_mutex_);
  return generations_.empty() ? none : *generations_.back();
}

std::string Engine::default_flow() const {
  if (!options_.default_flow.empty()) return options_.default_flow;
  const auto& generation = flow_generation();
  return generation.flows.empty() ? std::string() : generation.flows.front().name;
}

std::vector<std::string> Engine::flow_names() const {
  std::vector<std::string> names;
  for (auto& f : flow_generation().flows) names.push_back(f.name);
  return names;
}

EngineStats Engine::stats() const {
  EngineStats s;
  s.accepted = shared_->accepted;
  s.duplicates = shared_->duplicates;
  s.turns = shared_->turns;
  s.turn_errors = shared_->turn_errors;
  s.timers_fired = shared_->timers_fired;
  s.commit_failures = shared_->commit_failures;
  s.corrupt_rows = shared_->corrupt_rows;
  s.quarantined_total = shared_->quarantined;
  s.loop_exceptions = shared_->loop_exceptions;
  try {
    auto counts = count_quarantine(store_.read());
    s.quarantined_messages = counts.messages;
    s.quarantined_conversations = counts.conversations;
  } catch (const std::exception&) {  // store closed: the gauges read 0
  }
  for (auto& w : workers_) {
    s.active_conversations += w->active_conversations();
    s.suspended_turns += w->suspended_turns();
  }
  return s;
}

}  // namespace charla::runtime
