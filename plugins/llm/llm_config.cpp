#include "llm/llm_config.hpp"

#include <cstdlib>
#include <stdexcept>

namespace charla::plugins::llm {
namespace {

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

[[noreturn]] void bad(const std::string& key, const std::string& what) {
  throw std::invalid_argument("plugins.llm." + key + ": " + what);
}

std::string string_value(const std::string& key, const nlohmann::json& v) {
  if (!v.is_string()) bad(key, "must be a string");
  return v.get<std::string>();
}

std::int64_t positive_integer(const std::string& key, const nlohmann::json& v, std::int64_t min = 1) {
  if (!v.is_number_integer() || v.get<std::int64_t>() < min)
    bad(key, "must be an integer >= " + std::to_string(min));
  return v.get<std::int64_t>();
}

}  // namespace

LlmConfig LlmConfig::from_json(const nlohmann::json& config) {
  LlmConfig c;
  c.base_url = env_or_empty("LLM_BASE_URL");
  c.api_key = env_or_empty("LLM_API_KEY");
  c.model = env_or_empty("LLM_MODEL");
  if (!config.is_null() && !config.is_object()) throw std::invalid_argument("plugins.llm: must be an object");

  if (config.is_object()) for (const auto& [key, v] : config.items()) {
    if (key == "base_url") {
      c.base_url = string_value(key, v);
    } else if (key == "api_key") {
      c.api_key = string_value(key, v);
    } else if (key == "model") {
      c.model = string_value(key, v);
    } else if (key == "temperature") {
      if (!v.is_number() || v.get<double>() < 0 || v.get<double>() > 2) bad(key, "must be a number from 0 to 2");
      c.temperature = v.get<double>();
    } else if (key == "max_tokens") {
      c.max_tokens = positive_integer(key, v);
    } else if (key == "timeout_ms") {
      c.timeout = std::chrono::milliseconds(positive_integer(key, v));
    } else if (key == "max_concurrency") {
      c.max_concurrency = static_cast<std::size_t>(positive_integer(key, v));
    } else if (key == "max_retries") {
      c.max_retries = static_cast<int>(positive_integer(key, v, 0));
    } else if (key == "retry_backoff_ms") {
      c.retry_backoff = std::chrono::milliseconds(positive_integer(key, v, 0));
    } else if (key == "max_response_bytes") {
      c.max_response_bytes = static_cast<std::size_t>(positive_integer(key, v));
    } else if (key == "http_version") {
      const std::string version = v.is_string() ? v.get<std::string>() : "";
      if (version == "1.1") c.http_version = LlmHttpVersion::http1_1;
      else if (version == "2") c.http_version = LlmHttpVersion::http2;
      else if (version == "h2c") c.http_version = LlmHttpVersion::h2c;
      else bad(key, "must be \"1.1\", \"2\" or \"h2c\" (a string)");
    } else if (key == "ca_file") {
      c.ca_file = string_value(key, v);
      if (c.ca_file.empty()) bad(key, "must name a PEM file");
    } else {
      throw std::invalid_argument("plugins.llm: unknown key '" + key + "'");
    }
  }
  while (!c.base_url.empty() && c.base_url.back() == '/') c.base_url.pop_back();
  return c;
}

}  // namespace charla::plugins::llm
