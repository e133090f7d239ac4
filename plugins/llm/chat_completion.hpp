#pragma once
// The OpenAI chat-completions wire format, kept apart from the plugin's scheduling:
// ctx:llm arguments -> request body, response body -> reply or error.
#include "llm/llm_config.hpp"
#include "llm/llm_metrics.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace charla::plugins::llm {

// ctx:llm{...} arguments after validation.
struct ChatArgs {
  nlohmann::json messages = nlohmann::json::array();  // [{role, content}], system first
  std::string model;                                  // empty: the config's
  std::optional<double> temperature;
  std::optional<std::int64_t> max_tokens;
  std::optional<std::chrono::milliseconds> timeout;
  bool json = false;
};

// Validates the Lua table: `system`, `prompt` (string) and/or `messages` (array of
// {role=, content=}), `model`, `temperature`, `max_tokens`, `timeout` (milliseconds or "3s"), `json`.
// On a programming error returns std::nullopt and sets `why` (raised in Lua).
std::optional<ChatArgs> parse_chat_args(const nlohmann::json& args, std::string& why);

nlohmann::json chat_request_body(const ChatArgs& args, const LlmConfig& config);

struct ChatOutcome {
  bool ok = false;
  nlohmann::json value;  // the reply: a string, or the parsed object when json=true
  LlmError code = LlmError::bad_response;
  std::string message;
  std::uint64_t prompt_tokens = 0;
  std::uint64_t completion_tokens = 0;
};

// Reads a 2xx response body.
ChatOutcome parse_chat_response(const std::string& body, bool json_mode);

// "HTTP 401: Incorrect API key provided" from a provider's error response.
std::string describe_http_error(long status, const std::string& body);

// Retry-After as delta-seconds or an HTTP-date; nullopt when absent or unreadable.
std::optional<std::chrono::milliseconds> parse_retry_after(const std::map<std::string, std::string>& headers);

}  // namespace charla::plugins::llm
