#include "cli/chat_clock.hpp"

#include "runtime/conversation.hpp"

#include <algorithm>
#include <optional>
#include <set>
#include <thread>
#include <vector>

namespace charla::cli {
namespace {

constexpr int kMaxSteps = 10'000;

struct Due {
  std::int64_t due_ms;
  std::string key;
};

// Timer rows in due order (keys sort by due time), skipping `held`.
std::vector<Due> timer_rows(runtime::Engine& engine, const std::set<std::string>& held, std::int64_t up_to,
                            std::size_t limit) {
  std::vector<Due> out;
  auto txn = engine.store().read();
  txn.scan(store::Db::timers, "", [&](std::string_view key, std::string_view) {
    runtime::TimerKey k;
    if (!runtime::parse_timer_key(key, k)) return true;
    if (k.due_ms > up_to) return false;
    if (!held.count(std::string(key))) out.push_back({k.due_ms, std::string(key)});
    return out.size() < limit;
  });
  return out;
}

bool row_exists(runtime::Engine& engine, const std::string& key) {
  auto txn = engine.store().read();
  return txn.get(store::Db::timers, key).has_value();
}

}  // namespace

std::string advance_fake_clock(runtime::ManualClock& clock, runtime::Engine& engine, TimerTurnCounter& turns,
                               std::int64_t by_ms, std::chrono::milliseconds turn_budget) {
  const std::int64_t target = clock.now_ms() + std::max<std::int64_t>(0, by_ms);
  std::set<std::string> held;
  for (int step = 0; step < kMaxSteps; ++step) {
    const auto next = timer_rows(engine, held, target, 1);
    if (next.empty()) {
      clock.set(target);
      return {};
    }
    clock.set(std::max(next.front().due_ms, clock.now_ms()));
    const auto due = timer_rows(engine, held, clock.now_ms(), 1000);
    const std::uint64_t before = turns.count();
    engine.tick_timers();
    // Each due timer's turn reports once it commits. A timer the engine holds instead
    // (paused conversation) never does: its row stays, it is skipped from then on.
    const auto deadline = std::chrono::steady_clock::now() + turn_budget + std::chrono::seconds(10);
    const auto settle = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!turns.wait_for(before + due.size(), std::chrono::milliseconds(20))) {
      const auto now = std::chrono::steady_clock::now();
      if (now > settle && std::none_of(due.begin(), due.end(), [&](const Due& d) { return row_exists(engine, d.key); }))
        break;
      if (now > deadline) return "a timer turn did not finish within " + std::to_string((turn_budget.count() + 10'000) / 1000) + " s";
    }
    for (const auto& d : due)
      if (row_exists(engine, d.key)) held.insert(d.key);
  }
  return "more than " + std::to_string(kMaxSteps) + " timers fired within one wait (a timer that re-arms itself immediately?)";
}

}  // namespace charla::cli
