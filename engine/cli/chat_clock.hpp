#pragma once
// `charla chat --now`: the fake clock's owner. {"wait":"10m"} moves the clock to each
// due timer in turn (so a timer that sets another one within the wait fires too, and
// every timer turn sees its own due time as "now"), fires it, and waits for its turn
// to commit before going on. Bounded: at most kMaxSteps timers per wait, and each
// step waits at most the turn time budget plus 10 s.
#include "runtime/clock.hpp"
#include "runtime/engine.hpp"

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>

namespace charla::cli {

// Counts committed timer turns (the engine's turn observer reports them).
class TimerTurnCounter {
 public:
  void add() {
    std::lock_guard lock(mutex_);
    ++count_;
    cv_.notify_all();
  }
  std::uint64_t count() {
    std::lock_guard lock(mutex_);
    return count_;
  }
  // True once count() >= n; false after `within`.
  template <class Duration>
  bool wait_for(std::uint64_t n, Duration within) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, within, [&] { return count_ >= n; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::uint64_t count_ = 0;
};

// Advances `clock` by `by_ms`, firing due timers in due order. Returns an error text,
// empty when every due timer's turn committed (timers the engine holds, e.g. of a
// paused conversation, are skipped after one attempt).
std::string advance_fake_clock(runtime::ManualClock& clock, runtime::Engine& engine, TimerTurnCounter& turns,
                               std::int64_t by_ms, std::chrono::milliseconds turn_budget);

}  // namespace charla::cli
