#pragma once
// ctx:llm — OpenAI-compatible chat completions (POST {base_url}/chat/completions).
//
// Lua: local text, err = ctx:llm{ system=, prompt= | messages=, model=, temperature=,
//                                 max_tokens=, timeout= (seconds), json= (bool) }
//  - returns the reply text (json=true: the reply parsed into a table);
//  - wrong or missing arguments raise a Lua error (PluginReply::bad_argument);
//  - expected failures return nil, {code=, message=} with code one of timeout,
//    http_429, http_5xx, http_4xx, bad_response, budget_exceeded, network,
//    not_configured, cancelled.
//
// Invariants:
//  - A call's deadline is the earlier of the turn's (PluginCall::deadline) and its own
//    timeout (`timeout` argument, else config timeout_ms); it covers queueing, every
//    attempt and every backoff. A request never outlives it.
//  - At most max_concurrency requests are in flight per instance; further calls wait
//    FIFO and fail with budget_exceeded if their deadline passes while they wait.
//  - 429, 5xx and network errors are retried (up to max_retries, backoff doubling
//    from retry_backoff_ms with jitter, Retry-After honoured) only if the wait fits in
//    the deadline; otherwise that error is returned.
//  - done is called exactly once, always posted to the io_context; shutdown() fails
//    every pending call with "cancelled"; after destruction nothing is called.
#include "llm/llm_config.hpp"
#include "llm/llm_metrics.hpp"
#include "plugin/plugin.hpp"

#include <memory>

namespace charla::plugins::llm {

class LlmPlugin final : public Plugin {
 public:
  LlmPlugin(boost::asio::io_context& io, LlmConfig config);
  ~LlmPlugin() override;

  std::vector<std::string> methods() const override { return {"llm"}; }
  void call(PluginCall call, PluginDone done) override;
  void shutdown() override;

  const LlmMetrics& metrics() const;  // this instance only; process_llm_metrics() sums all
  const LlmConfig& config() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace charla::plugins::llm
