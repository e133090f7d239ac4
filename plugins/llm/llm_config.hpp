#pragma once
// Configuration of the llm plugin: the "llm" block under "plugins" in charla.json.
// Secrets and endpoints default to the environment (LLM_BASE_URL, LLM_API_KEY,
// LLM_MODEL) so the config file never needs to hold a key.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace charla::plugins::llm {

// How ctx:llm talks to the provider (key http_version).
enum class LlmHttpVersion {
  http1_1,  // "1.1": one connection per call in flight
  http2,    // "2" (default): HTTP/2 over TLS when the provider agrees (ALPN), calls multiplexed
            // on shared connections (charla's own client, net/h2_client.hpp); HTTP/1.1 (curl)
            // to providers that do not, and to http:// URLs
  h2c,      // "h2c": HTTP/2 without negotiation ("prior knowledge"), for http:// providers that
            // speak it, on charla's own HTTP/2 client (net/h2_client.hpp); calls multiplexed
            // on shared connections. To https:// URLs: as "2"
};

struct LlmConfig {
  std::string base_url;                     // e.g. https://api.openai.com/v1; empty: not configured
  std::string api_key;                      // sent as "Authorization: Bearer <api_key>" when set
  std::string model;                        // default model; a call's `model` overrides it
  std::optional<double> temperature;        // default temperature, if any
  std::optional<std::int64_t> max_tokens;   // default max_tokens, if any
  std::chrono::milliseconds timeout{15'000};  // default per-call time budget (queue + retries)
  std::size_t max_concurrency = 32;         // requests in flight per worker; more wait FIFO
  int max_retries = 2;                      // extra attempts after 429 / 5xx / network errors
  std::chrono::milliseconds retry_backoff{250};  // first backoff; doubles each retry, jittered
  std::size_t max_response_bytes = 8u << 20;
  LlmHttpVersion http_version = LlmHttpVersion::http2;
  std::string ca_file;  // PEM CAs to trust for an https:// base_url instead of the system's

  // Keys: base_url, api_key, model, temperature, max_tokens, timeout_ms, max_concurrency,
  // max_retries, retry_backoff_ms, max_response_bytes, http_version, ca_file. null means {}.
  // Throws std::invalid_argument naming the key on an unknown key or a bad value.
  static LlmConfig from_json(const nlohmann::json& config);
};

}  // namespace charla::plugins::llm
