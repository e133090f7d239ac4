#pragma once
// Loads N finished conversations into a store through the store API, for the
// "a million conversations" figures (issue 11): each is a `conv` record as the engine
// writes it (flow, state PROPUESTA, the data the reference flow collects) plus two
// history entries, under users no benchmark driver uses. Writes go through
// Store::submit in batches of `per_write` records with a bounded number in flight, and
// the load stops by itself at `deadline` (the report then says how many were written).
// With paused_every = K > 0, every K-th conversation is paused for a human (a handoff,
// as ctx:handoff leaves it), so the handoff queue has something to list.
#include "runtime/conversation.hpp"
#include "runtime/event.hpp"
#include "runtime/handoff_index.hpp"
#include "store/store.hpp"
#include "bench_stats.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>

namespace charla::bench {

struct PreloadResult {
  std::uint64_t conversations = 0;  // records committed
  double seconds = 0;
  bool complete = false;            // false: the deadline came first
  std::string error;
};

inline PreloadResult preload_conversations(store::Store& store, std::uint64_t n,
                                           std::chrono::steady_clock::time_point deadline,
                                           std::uint64_t per_write = 1000, int max_in_flight = 8,
                                           std::uint64_t paused_every = 0) {
  using Steady = std::chrono::steady_clock;
  PreloadResult r;
  const auto t0 = Steady::now();
  // Shared with the writer's callbacks, which may outlive this call if the writer is stuck.
  struct State {
    std::mutex m;
    std::condition_variable cv;
    int in_flight = 0;
    std::uint64_t committed = 0;
    std::string error;
  };
  auto st = std::make_shared<State>();
  auto& m = st->m;
  auto& cv = st->cv;
  auto& in_flight = st->in_flight;
  auto& error = st->error;
  const std::int64_t now_ms = 1'793'000'000'000;
  for (std::uint64_t first = 0; first < n; first += per_write) {
    {
      std::unique_lock lock(m);
      // Bounded wait: a stuck writer cannot hold the benchmark past its deadline.
      if (!cv.wait_until(lock, deadline, [&] { return in_flight < max_in_flight || !error.empty(); })) break;
      if (!error.empty()) break;
      ++in_flight;
    }
    const std::uint64_t last = std::min(n, first + per_write);
    store.submit(
        [first, last, now_ms, paused_every](store::WriteTxn& txn) {
          for (std::uint64_t i = first; i < last; ++i) {
            runtime::Conversation c;
            c.channel = "bench";
            c.account = "100000000000001";
            c.user = "p" + std::to_string(9'000'000'000'000ull + i);  // never a driver's user
            c.key = runtime::conversation_key(c.channel, c.account, c.user);
            c.name = "Cliente Precargado";
            c.flow = "insurance";
            c.flow_version = 1;
            c.state = "PROPUESTA";
            c.data = {{"edad", 35}, {"fumador", false}, {"suma", 500000}, {"plan", 2}};
            c.last_inbound_ms = c.created_ms = c.updated_ms = now_ms;
            c.history_first = 1;
            c.history_next = 3;
            c.turns = 5;
            if (paused_every > 0 && i % paused_every == 0) {
              c.paused = true;
              c.paused_ms = now_ms;
              c.handoff_reason = "quiere hablar con un asesor";
            }
            runtime::put_conversation(txn, c);  // with its handoff index row, as the engine writes it
            txn.put(store::Db::history, runtime::history_key(c.key, 1),
                    nlohmann::json{{"dir", "in"}, {"text", "2"}, {"ts", now_ms}}.dump());
            txn.put(store::Db::history, runtime::history_key(c.key, 2),
                    nlohmann::json{{"dir", "out"}, {"text", "Tu propuesta: plan 2, suma 500000."}, {"ts", now_ms}}.dump());
          }
        },
        [st, count = last - first](const std::string& err) {
          std::lock_guard lock(st->m);
          if (err.empty()) st->committed += count;
          else if (st->error.empty()) st->error = err;
          --st->in_flight;
          st->cv.notify_all();
        });
  }
  {
    std::unique_lock lock(m);
    // Whatever is still in flight finishes (or fails) within a commit or two.
    cv.wait_until(lock, deadline + std::chrono::seconds(30), [&] { return in_flight == 0; });
    r.error = error;
    r.conversations = st->committed;
  }
  r.complete = r.conversations == n && r.error.empty();
  r.seconds = std::chrono::duration<double>(Steady::now() - t0).count();
  return r;
}

}  // namespace charla::bench
