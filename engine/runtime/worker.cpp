#include "runtime/worker.hpp"

#include "log/log.hpp"
#include "log/thread_name.hpp"
#include "runtime/turn_write.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace charla::runtime {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

// On Linux a thread is a task with its own nice value: setpriority on its tid changes
// this thread only. The step is relative to the nice value the process started with
// (`nice -n -5 charla serve` keeps workers 5 below the rest of charla). Raising it needs
// no privilege; a failure is logged and the worker runs at the process's priority.
void lower_this_thread_priority(int nice) {
  if (nice <= 0) return;
  const auto tid = static_cast<id_t>(::syscall(SYS_gettid));
  errno = 0;
  const int current = ::getpriority(PRIO_PROCESS, tid);
  if (errno != 0) return;
  if (::setpriority(PRIO_PROCESS, tid, std::min(current + nice, 19)) != 0)
    log::warn("worker_nice_failed", {{"nice", nice}, {"error", std::strerror(errno)}});
}

}  // namespace

Worker::Worker(Engine& engine, int index)
    : engine_(engine), index_(index), cache_(engine.options_.conversation_cache) {
  host_ = std::make_unique<lua::FlowHost>(io_, engine_.options_.host);
  for (auto& path : engine_.options_.flows) loaded_flows_.push_back(host_->load_flow(path));
  for (auto& [name, config] : engine_.options_.plugins.items()) {
    auto* factory = PluginRegistry::instance().find(name);
    if (!factory) throw std::runtime_error("unknown plugin '" + name + "' in config key 'plugins'");
    plugins_.push_back((*factory)(io_, config));
    host_->register_plugin(*plugins_.back());
  }
}

Worker::~Worker() { stop(std::chrono::milliseconds(0)); }

void Worker::start() {
  thread_ = std::thread([this] {
    lower_this_thread_priority(engine_.options_.worker_nice);  // before the name: tests wait for the name
    log::name_this_thread("worker-" + std::to_string(index_));
    run_loop();
  });
}

// An exception that reaches the loop would end the thread and with it the process
// (std::terminate). It is logged and counted, and the loop goes on serving the other
// conversations.
void Worker::run_loop() {
  auto guard = asio::make_work_guard(io_);
  for (;;) {
    try {
      io_.run();
      return;  // stopped
    } catch (const std::exception& e) {
      engine_.note_loop_exception();
      log::error("worker_loop_exception", {{"worker", index_}, {"error", e.what()}});
    } catch (...) {
      engine_.note_loop_exception();
      log::error("worker_loop_exception", {{"worker", index_}, {"error", "unknown exception"}});
    }
  }
}

// Order holds: an event is in arrivals_ before the drain that takes it is posted or
// while it is still pending, so anything posted to io_ after post() returns runs after
// that drain.
void Worker::post(InboundEvent event) {
  bool wake = false;
  {
    std::lock_guard lock(arrivals_mutex_);
    arrivals_.push_back(std::move(event));
    wake = !std::exchange(drain_posted_, true);
  }
  if (wake) asio::post(io_, [this] { drain_arrivals(); });
}

void Worker::drain_arrivals() {
  std::vector<InboundEvent> events;
  {
    std::lock_guard lock(arrivals_mutex_);
    events.swap(arrivals_);
    drain_posted_ = false;
  }
  // One event's failure must not drop the others taken with it (they are durable in the
  // inbox, but would wait for a restart): each is handled as its own handler was.
  for (auto& e : events) {
    try {
      enqueue(std::move(e));
    } catch (const std::exception& ex) {
      engine_.note_loop_exception();
      log::error("worker_loop_exception", {{"worker", index_}, {"error", ex.what()}});
    }
  }
}

void Worker::post_task(std::string conversation, std::function<void()> fn) {
  asio::post(io_, [this, key = std::move(conversation), fn = std::move(fn)]() mutable {
    auto& box = mailboxes_[key];
    box.tasks.push_back(std::move(fn));
    start_next(key);
  });
}

void Worker::post_held_task(std::string conversation, Engine::HeldTask fn) {
  post_task(conversation, [this, key = conversation, fn = std::move(fn)] {
    auto& box = mailboxes_[key];
    box.running = true;
    ++active_;
    auto released = std::make_shared<std::atomic<bool>>(false);
    auto release = [this, key, released] {
      if (released->exchange(true)) return;
      asio::post(io_, [this, key] {
        --active_;
        if (auto it = mailboxes_.find(key); it != mailboxes_.end()) it->second.running = false;
        start_next(key);
      });
    };
    try {
      fn(release);
    } catch (...) {
      release();  // a task that failed before releasing must not hold the conversation forever
      throw;
    }
  });
}

// An operator write holds the mailbox (post_held_task) until it has committed and
// `then` has run: a turn started meanwhile would read the record from before it and
// commit over it (a reset undone, a resume lost).
void Worker::post_write(std::string conversation, Engine::AdminWrite write, Engine::AdminThen then) {
  post_held_task(conversation, [this, key = conversation, write = std::move(write),
                                then = std::move(then)](std::function<void()> release) mutable {
    engine_.store_.submit(std::move(write), [this, key, then = std::move(then), release](const std::string& error) {
      asio::post(io_, [this, key, then, release, error] {
        std::vector<InboundEvent> first;
        try {
          if (then) first = then(error);
        } catch (const std::exception& e) {
          engine_.note_loop_exception();
          log::error("admin_task_failed", {{"conversation", key}, {"error", e.what()}});
        }
        auto& box = mailboxes_[key];
        for (auto it = first.rbegin(); it != first.rend(); ++it) box.queue.push_front(std::move(*it));
        cache_.erase(key);
        release();
      });
    });
  });
}

void Worker::stop(std::chrono::milliseconds grace) {
  if (!thread_.joinable()) return;
  stopping_ = true;
  asio::post(io_, [this] {
    for (auto& p : plugins_) p->shutdown();
    host_->cancel_all();
  });
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (active_.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  io_.stop();
  thread_.join();
}

void Worker::enqueue(InboundEvent event) {
  if (stopping_) return;  // still in the inbox or timers db: runs at next start
  auto key = event.conversation;
  mailboxes_[key].queue.push_back(std::move(event));
  start_next(key);
}

void Worker::finish_mailbox_if_idle(const std::string& key) {
  auto it = mailboxes_.find(key);
  if (it != mailboxes_.end() && !it->second.running && it->second.queue.empty() && it->second.tasks.empty() &&
      !it->second.debounce_armed)
    mailboxes_.erase(it);  // idle conversations keep no heap here
}

void Worker::start_next(const std::string& key) {
  auto it = mailboxes_.find(key);
  if (it == mailboxes_.end()) return;
  auto& box = it->second;
  if (box.running || box.debounce_armed || stopping_) return;
  while (!box.tasks.empty() && !box.running) {  // a held task sets running until it releases
    auto task = std::move(box.tasks.front());
    box.tasks.pop_front();
    cache_.erase(key);  // admin tasks may rewrite the record
    try {
      task();
    } catch (const std::exception& e) {
      engine_.note_loop_exception();
      log::error("admin_task_failed", {{"conversation", key}, {"error", e.what()}});
    }
  }
  if (box.running) return;
  if (box.queue.empty()) return finish_mailbox_if_idle(key);
  if (box.quarantined) return;  // its events wait for an operator

  auto turn = std::make_shared<TurnContext>();
  turn->key = key;
  try {
    turn->cached = load(key, box.queue.front());
  } catch (const std::exception& e) {
    return set_aside(key, box, std::string("stored conversation unreadable: ") + e.what());
  }
  if (should_debounce(box, turn->cached.conv, key)) return cache_.put(key, std::move(turn->cached));
  turn->events = take_batch(box, turn->cached.conv);
  box.running = true;
  ++active_;
  const bool recovered = std::any_of(turn->events.begin(), turn->events.end(), [](auto& e) { return e.recovered; });
  if (recovered) return charge_recovered(std::move(turn));
  run(std::move(turn));
}

bool Worker::should_debounce(Mailbox& box, const Conversation& conv, const std::string& key) {
  const auto& front = box.queue.front();
  const auto* flow = host_->flow(conv.flow);
  if (!flow || flow->double_text_debounce_ms <= 0 || front.kind != InboundEvent::Kind::message ||
      front.payload.value("type", "") != "text" || box.timer)
    return false;
  auto waited = engine_.clock_.now_ms() - front.received_ms;
  if (waited >= flow->double_text_debounce_ms) return false;
  box.debounce_armed = true;
  box.timer = std::make_unique<asio::steady_timer>(io_, std::chrono::milliseconds(flow->double_text_debounce_ms - waited));
  box.timer->async_wait([this, key](const boost::system::error_code&) {
    auto it = mailboxes_.find(key);
    if (it == mailboxes_.end()) return;
    it->second.debounce_armed = false;
    // Keep the spent timer until the batch is taken so the window is not re-armed.
    start_next(key);
  });
  return true;
}

std::vector<InboundEvent> Worker::take_batch(Mailbox& box, const Conversation& conv) {
  std::vector<InboundEvent> batch;
  const auto* flow = host_->flow(conv.flow);
  const bool merge = flow && flow->double_text_debounce_ms > 0;
  auto is_text = [](const InboundEvent& e) {
    return e.kind == InboundEvent::Kind::message && e.payload.value("type", "") == "text";
  };
  do {
    batch.push_back(std::move(box.queue.front()));
    box.queue.pop_front();
  } while (merge && is_text(batch.front()) && !box.queue.empty() && is_text(box.queue.front()));
  box.timer.reset();
  return batch;
}

Worker::Cached Worker::load(const std::string& key, const InboundEvent& first) {
  if (auto* hit = cache_.find(key)) {
    // Taken, not copied: on_committed puts the new record back, and every other path
    // (commit failure, shutdown) may simply reread LMDB, which is authoritative.
    Cached taken = std::move(*hit);
    cache_.erase(key);
    return taken;
  }
  Cached cached;
  auto txn = engine_.store_.read();
  if (auto raw = txn.get(store::Db::conv, key)) {
    cached.conv = Conversation::from_json(key, json::parse(*raw));
    auto from = cached.conv.history_next > engine_.options_.history_limit
                    ? std::max(cached.conv.history_first, cached.conv.history_next - engine_.options_.history_limit)
                    : cached.conv.history_first;
    auto prefix = history_prefix(key);
    cached.history = std::make_shared<json>(json::array());
    txn.scan(store::Db::history, history_key(key, from), [&](std::string_view k, std::string_view v) {
      if (k.substr(0, prefix.size()) != prefix) return false;
      cached.history->push_back(json::parse(v));
      return true;
    });
  } else {
    auto& c = cached.conv;
    c.key = key;
    c.channel = first.channel;
    c.account = first.account;
    c.user = first.user;
    c.created_ms = engine_.clock_.now_ms();
  }
  auto& c = cached.conv;
  if (c.flow.empty() || !host_->flow(c.flow)) {
    auto wanted = c.flow.empty() ? first.flow : c.flow;
    if (wanted.empty() || !host_->flow(wanted)) {
      if (!c.flow.empty()) log::warn("flow_missing", {{"conversation", key}, {"flow", c.flow}, {"using", engine_.default_flow()}});
      wanted = engine_.default_flow();
    }
    c.flow = wanted;
  }
  return cached;
}

}  // namespace charla::runtime
