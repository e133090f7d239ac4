#include "llm/llm_metrics.hpp"

#include <algorithm>
#include <cstdio>

namespace charla::plugins::llm {

std::string_view to_string(LlmError code) {
  static constexpr std::array<std::string_view, kLlmErrorCount> names{
      "timeout", "http_429", "http_5xx", "http_4xx", "bad_response", "budget_exceeded", "network", "not_configured", "cancelled"};
  return names[static_cast<std::size_t>(code)];
}

void LlmMetrics::add_latency(std::chrono::microseconds latency) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(latency).count();
  std::size_t bucket = 0;
  while (bucket < kLatencyBoundsMs.size() && ms > kLatencyBoundsMs[bucket]) ++bucket;
  latency_buckets[bucket].fetch_add(1, std::memory_order_relaxed);
  latency_count.fetch_add(1, std::memory_order_relaxed);
  latency_sum_us.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, latency.count())), std::memory_order_relaxed);
}

LlmMetrics& process_llm_metrics() {
  static LlmMetrics metrics;
  return metrics;
}

std::string llm_metrics_prometheus() {
  const LlmMetrics& m = process_llm_metrics();
  auto load = [](const auto& a) { return std::to_string(a.load(std::memory_order_relaxed)); };
  std::string out;
  auto counter = [&](const char* name, const char* help, const std::string& value) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name + " " + value + "\n";
  };
  counter("charla_llm_calls_total", "ctx:llm calls.", load(m.calls));
  counter("charla_llm_argument_errors_total", "ctx:llm calls with invalid arguments.", load(m.argument_errors));
  counter("charla_llm_successes_total", "ctx:llm calls that returned a reply.", load(m.successes));
  counter("charla_llm_http_requests_total", "Requests sent to the LLM provider.", load(m.http_requests));
  counter("charla_llm_retries_total", "Retried LLM requests.", load(m.retries));
  counter("charla_llm_prompt_tokens_total", "Prompt tokens reported by the provider.", load(m.prompt_tokens));
  counter("charla_llm_completion_tokens_total", "Completion tokens reported by the provider.", load(m.completion_tokens));

  out += "# HELP charla_llm_errors_total ctx:llm calls that failed, by error code.\n# TYPE charla_llm_errors_total counter\n";
  for (std::size_t i = 0; i < kLlmErrorCount; ++i)
    out += "charla_llm_errors_total{code=\"" + std::string(to_string(static_cast<LlmError>(i))) + "\"} " + load(m.errors[i]) + "\n";

  out += "# HELP charla_llm_in_flight ctx:llm calls holding a concurrency slot.\n# TYPE charla_llm_in_flight gauge\n";
  out += "charla_llm_in_flight " + load(m.in_flight) + "\n";
  out += "# HELP charla_llm_queued ctx:llm calls waiting for a concurrency slot.\n# TYPE charla_llm_queued gauge\n";
  out += "charla_llm_queued " + load(m.queued) + "\n";

  out += "# HELP charla_llm_latency_seconds ctx:llm call latency, queueing and retries included.\n";
  out += "# TYPE charla_llm_latency_seconds histogram\n";
  std::uint64_t cumulative = 0;
  char le[32];
  for (std::size_t i = 0; i < LlmMetrics::kLatencyBoundsMs.size(); ++i) {
    cumulative += m.latency_buckets[i].load(std::memory_order_relaxed);
    std::snprintf(le, sizeof le, "%g", static_cast<double>(LlmMetrics::kLatencyBoundsMs[i]) / 1000.0);
    out += std::string("charla_llm_latency_seconds_bucket{le=\"") + le + "\"} " + std::to_string(cumulative) + "\n";
  }
  cumulative += m.latency_buckets.back().load(std::memory_order_relaxed);
  out += "charla_llm_latency_seconds_bucket{le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
  std::snprintf(le, sizeof le, "%.6f", static_cast<double>(m.latency_sum_us.load(std::memory_order_relaxed)) / 1e6);
  out += std::string("charla_llm_latency_seconds_sum ") + le + "\n";
  out += "charla_llm_latency_seconds_count " + std::to_string(cumulative) + "\n";
  return out;
}

}  // namespace charla::plugins::llm
