#pragma once
// Wall-clock time for turns and durable timers. Timers are stored as wall-clock
// milliseconds so they survive restarts; tests substitute a ManualClock.
#include <atomic>
#include <chrono>
#include <cstdint>

namespace charla::runtime {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::int64_t now_ms() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::int64_t now_ms() const override {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  }
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t start_ms = 1'700'000'000'000) : now_(start_ms) {}
  std::int64_t now_ms() const override { return now_.load(); }
  void advance(std::chrono::milliseconds by) { now_ += by.count(); }
  void set(std::int64_t ms) { now_ = ms; }

 private:
  std::atomic<std::int64_t> now_;
};

}  // namespace charla::runtime
