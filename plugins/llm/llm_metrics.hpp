#pragma once
// Counters for ctx:llm calls. Each LlmPlugin (one per worker) keeps its own set, and
// every event is also added to one process-wide set, which the /metrics endpoint reads
// (llm_metrics_prometheus()). Plain relaxed atomics: written by workers, read by
// whoever exports them; a reader may see a call counted before its latency.
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace charla::plugins::llm {

// The error codes a flow can see in `err.code` from ctx:llm.
enum class LlmError : std::size_t {
  timeout,
  http_429,
  http_5xx,
  http_4xx,
  bad_response,
  budget_exceeded,
  network,
  not_configured,
  cancelled,  // the plugin was shut down while the call was pending
};
inline constexpr std::size_t kLlmErrorCount = 9;
std::string_view to_string(LlmError code);

struct LlmMetrics {
  // Upper bounds (ms) of the latency histogram's buckets; one more bucket is +Inf.
  static constexpr std::array<std::int64_t, 10> kLatencyBoundsMs{100, 250, 500, 1000, 2500, 5000, 10000, 15000, 30000, 60000};

  std::atomic<std::uint64_t> calls{0};           // every ctx:llm call, argument errors included
  std::atomic<std::uint64_t> argument_errors{0};  // raised in Lua, not counted in errors[]
  std::atomic<std::uint64_t> successes{0};
  std::array<std::atomic<std::uint64_t>, kLlmErrorCount> errors{};  // indexed by LlmError
  std::atomic<std::uint64_t> http_requests{0};   // attempts sent to the provider
  std::atomic<std::uint64_t> retries{0};
  std::atomic<std::uint64_t> prompt_tokens{0};   // from the responses' `usage`
  std::atomic<std::uint64_t> completion_tokens{0};
  std::array<std::atomic<std::uint64_t>, kLatencyBoundsMs.size() + 1> latency_buckets{};  // not cumulative
  std::atomic<std::uint64_t> latency_count{0};
  std::atomic<std::uint64_t> latency_sum_us{0};
  std::atomic<std::int64_t> in_flight{0};  // holding a concurrency slot
  std::atomic<std::int64_t> queued{0};     // waiting for a slot

  void add_error(LlmError code) { errors[static_cast<std::size_t>(code)].fetch_add(1, std::memory_order_relaxed); }
  std::uint64_t error_count(LlmError code) const { return errors[static_cast<std::size_t>(code)].load(std::memory_order_relaxed); }
  // Latency of a whole call as the flow saw it: queueing and retries included.
  void add_latency(std::chrono::microseconds latency);
};

// The sum over every LlmPlugin in the process.
LlmMetrics& process_llm_metrics();

// Prometheus text exposition of process_llm_metrics(): charla_llm_calls_total,
// charla_llm_errors_total{code=...}, charla_llm_latency_seconds (histogram), ...
std::string llm_metrics_prometheus();

}  // namespace charla::plugins::llm
