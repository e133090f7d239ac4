#include "llm/chat_completion.hpp"

#include "plugin/call_args.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <set>

namespace charla::plugins::llm {
namespace {

// Lua's empty table arrives as {} or [] depending on the converter: both mean "none".
bool is_empty_table(const nlohmann::json& v) { return (v.is_object() || v.is_array()) && v.empty(); }

// Provider text may be cut mid-character or not be UTF-8 at all; JSON must be.
std::string safe_text(const std::string& s, std::size_t max_bytes) {
  std::string cut = s.substr(0, max_bytes);
  return nlohmann::json::parse(
             nlohmann::json(cut).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
      .get<std::string>();
}

std::string strip_code_fence(std::string s) {
  auto first = s.find_first_not_of(" \t\r\n");
  auto last = s.find_last_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  s = s.substr(first, last - first + 1);
  if (s.starts_with("```") && s.size() >= 6 && s.ends_with("```")) {
    auto newline = s.find('\n');
    if (newline == std::string::npos) return s;
    s = s.substr(newline + 1, s.size() - newline - 1 - 3);
  }
  return s;
}

}  // namespace

std::optional<ChatArgs> parse_chat_args(const nlohmann::json& raw, std::string& why) {
  static const std::set<std::string> known{"system", "prompt", "messages", "model", "temperature", "max_tokens", "timeout", "json"};
  nlohmann::json args = raw.is_null() || is_empty_table(raw) ? nlohmann::json::object() : raw;
  if (!args.is_object()) {
    why = "llm: expects a table of arguments";
    return std::nullopt;
  }
  if (const std::string unknown = plugin_args::unknown_argument(args, known); !unknown.empty()) {
    why = "llm: " + unknown;
    return std::nullopt;
  }
  auto fail = [&](std::string text) {
    why = "llm: " + std::move(text);
    return std::nullopt;
  };

  ChatArgs out;
  if (args.contains("system")) {
    if (!args["system"].is_string()) return fail("'system' must be a string");
    out.messages.push_back({{"role", "system"}, {"content", args["system"]}});
  }
  if (args.contains("messages") && !is_empty_table(args["messages"])) {
    const auto& messages = args["messages"];
    if (!messages.is_array()) return fail("'messages' must be an array of {role=, content=}");
    for (std::size_t i = 0; i < messages.size(); ++i) {
      const auto& m = messages[i];
      std::string at = "messages[" + std::to_string(i + 1) + "]";
      if (!m.is_object()) return fail(at + " must be a table {role=, content=}");
      if (!m.contains("role") || !m["role"].is_string() || m["role"].get<std::string>().empty())
        return fail(at + ".role must be a non-empty string");
      if (!m.contains("content") || !(m["content"].is_string() || m["content"].is_array()))
        return fail(at + ".content must be a string");
      out.messages.push_back(m);
    }
  }
  if (args.contains("prompt")) {
    if (!args["prompt"].is_string()) return fail("'prompt' must be a string");
    out.messages.push_back({{"role", "user"}, {"content", args["prompt"]}});
  }
  bool has_user_turn = std::any_of(out.messages.begin(), out.messages.end(),
                                   [](const nlohmann::json& m) { return m["role"] != "system"; });
  if (!has_user_turn) return fail("needs 'prompt' (a string) or 'messages' (an array of {role=, content=})");

  if (args.contains("model")) {
    if (!args["model"].is_string() || args["model"].get<std::string>().empty()) return fail("'model' must be a non-empty string");
    out.model = args["model"];
  }
  if (args.contains("temperature")) {
    const auto& t = args["temperature"];
    if (!t.is_number() || t.get<double>() < 0 || t.get<double>() > 2) return fail("'temperature' must be a number from 0 to 2");
    out.temperature = t.get<double>();
  }
  if (args.contains("max_tokens")) {
    const auto& t = args["max_tokens"];
    if (!t.is_number() || t.get<double>() < 1 || std::floor(t.get<double>()) != t.get<double>())
      return fail("'max_tokens' must be a positive integer");
    out.max_tokens = static_cast<std::int64_t>(t.get<double>());
  }
  if (args.contains("timeout")) {
    std::string bad;
    out.timeout = plugin_args::call_timeout(args["timeout"], bad);
    if (!out.timeout) return fail(bad);
  }
  if (args.contains("json")) {
    if (!args["json"].is_boolean()) return fail("'json' must be a boolean");
    out.json = args["json"];
  }
  return out;
}

nlohmann::json chat_request_body(const ChatArgs& args, const LlmConfig& config) {
  nlohmann::json body{{"messages", args.messages}};
  std::string model = args.model.empty() ? config.model : args.model;
  if (!model.empty()) body["model"] = model;  // some compatible servers serve one model and need none
  if (auto t = args.temperature ? args.temperature : config.temperature) body["temperature"] = *t;
  if (auto m = args.max_tokens ? args.max_tokens : config.max_tokens) body["max_tokens"] = *m;
  if (args.json) body["response_format"] = {{"type", "json_object"}};
  return body;
}

ChatOutcome parse_chat_response(const std::string& body, bool json_mode) {
  ChatOutcome out;
  auto doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    out.message = "the provider's response is not JSON: " + safe_text(body, 200);
    return out;
  }
  if (const auto usage = doc.find("usage"); usage != doc.end() && usage->is_object()) {
    auto tokens = [&](const char* key) -> std::uint64_t {
      auto it = usage->find(key);
      return it != usage->end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
    };
    out.prompt_tokens = tokens("prompt_tokens");
    out.completion_tokens = tokens("completion_tokens");
  }
  const nlohmann::json* content = nullptr;
  if (auto choices = doc.find("choices"); choices != doc.end() && choices->is_array() && !choices->empty()) {
    const auto& first = (*choices)[0];
    if (first.is_object() && first.contains("message") && first["message"].is_object()) {
      auto c = first["message"].find("content");
      if (c != first["message"].end() && c->is_string()) content = &*c;
    }
  }
  if (!content) {
    out.message = "the provider's response has no choices[0].message.content";
    return out;
  }
  if (!json_mode) {
    out.ok = true;
    out.value = *content;
    return out;
  }
  auto parsed = nlohmann::json::parse(strip_code_fence(content->get<std::string>()), nullptr, false);
  if (parsed.is_discarded() || !(parsed.is_object() || parsed.is_array())) {
    out.message = "the model's reply is not a JSON object: " + safe_text(content->get<std::string>(), 200);
    return out;
  }
  out.ok = true;
  out.value = std::move(parsed);
  return out;
}

std::string describe_http_error(long status, const std::string& body) {
  std::string text = "HTTP " + std::to_string(status);
  auto doc = nlohmann::json::parse(body, nullptr, false);
  if (!doc.is_discarded() && doc.is_object() && doc.contains("error")) {
    const auto& e = doc["error"];
    if (e.is_object() && e.contains("message") && e["message"].is_string()) return text + ": " + e["message"].get<std::string>();
    if (e.is_string()) return text + ": " + e.get<std::string>();
  }
  if (!body.empty()) text += ": " + safe_text(body, 200);
  return text;
}

std::optional<std::chrono::milliseconds> parse_retry_after(const std::map<std::string, std::string>& headers) {
  auto it = headers.find("retry-after");
  if (it == headers.end() || it->second.empty()) return std::nullopt;
  const std::string& v = it->second;
  if (std::all_of(v.begin(), v.end(), [](unsigned char c) { return std::isdigit(c) || c == '.'; })) {
    try {
      double seconds = std::stod(v);
      return std::chrono::milliseconds(static_cast<std::int64_t>(std::min(seconds, 86400.0) * 1000));
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  std::tm tm{};
  if (!strptime(v.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm)) return std::nullopt;
  auto at = std::chrono::system_clock::from_time_t(timegm(&tm));
  auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(at - std::chrono::system_clock::now());
  return std::max(wait, std::chrono::milliseconds(0));
}

}  // namespace charla::plugins::llm
