#include "config/events_config.hpp"

#include "config/config.hpp"

#include <set>

namespace charla::config {

using nlohmann::json;

namespace {

void reject_unknown(const json& object, const std::string& path, const std::set<std::string>& known) {
  for (auto& [key, _] : object.items())
    if (!known.count(key)) throw ConfigError("unknown config key '" + path + "." + key + "'");
}

std::string required_string(const json& object, const std::string& path, const std::string& key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) throw ConfigError("config key '" + path + "." + key + "' is required");
  if (!it->is_string() || it->get<std::string>().empty())
    throw ConfigError("config key '" + path + "." + key + "' must be a non-empty string");
  return it->get<std::string>();
}

EventWebhook read_webhook(const json& w, const std::string& path,
                          const std::function<std::optional<std::string>(const std::string&)>& getenv) {
  if (!w.is_object()) throw ConfigError("config key '" + path + "' must be an object");
  reject_unknown(w, path, {"url", "secret_env", "events"});
  EventWebhook hook;
  hook.url = required_string(w, path, "url");
  if (!hook.url.starts_with("http://") && !hook.url.starts_with("https://"))
    throw ConfigError("config key '" + path + ".url' must start with http:// or https:// (got '" + hook.url + "')");
  hook.secret_env = required_string(w, path, "secret_env");
  auto secret = getenv(hook.secret_env);
  if (!secret || secret->empty())
    throw ConfigError("environment variable " + hook.secret_env + " (the signing secret of " + path + ", " + hook.url +
                      ") is not set");
  hook.secret = *secret;
  if (auto it = w.find("events"); it != w.end() && !it->is_null()) {
    if (!it->is_array()) throw ConfigError("config key '" + path + ".events' must be an array of event names");
    for (auto& e : *it) {
      if (!e.is_string() || e.get<std::string>().empty())
        throw ConfigError("config key '" + path + ".events' must be an array of non-empty event names (\"lead.*\")");
      hook.events.push_back(e.get<std::string>());
    }
  }
  return hook;
}

}  // namespace

void read_events(const json& block, EventsConfig& events,
                 const std::function<std::optional<std::string>(const std::string&)>& getenv) {
  if (!block.is_object()) throw ConfigError("config key 'events' must be an object");
  reject_unknown(block, "events", {"webhooks", "max_attempts", "request_timeout_ms", "retry_time_scale"});
  if (auto it = block.find("max_attempts"); it != block.end()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 1 || it->get<std::int64_t>() > 1000)
      throw ConfigError("config key 'events.max_attempts' must be an integer between 1 and 1000");
    events.max_attempts = it->get<int>();
  }
  if (auto it = block.find("request_timeout_ms"); it != block.end()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 100 || it->get<std::int64_t>() > 600'000)
      throw ConfigError("config key 'events.request_timeout_ms' must be an integer between 100 and 600000");
    events.request_timeout_ms = it->get<std::int64_t>();
  }
  if (auto it = block.find("retry_time_scale"); it != block.end()) {
    if (!it->is_number() || it->get<double>() <= 0)
      throw ConfigError("config key 'events.retry_time_scale' must be a number greater than 0");
    events.retry_time_scale = it->get<double>();
  }
  if (auto it = block.find("webhooks"); it != block.end() && !it->is_null()) {
    if (!it->is_array()) throw ConfigError("config key 'events.webhooks' must be an array");
    for (std::size_t i = 0; i < it->size(); ++i)
      events.webhooks.push_back(read_webhook((*it)[i], "events.webhooks[" + std::to_string(i) + "]", getenv));
  }
}

}  // namespace charla::config
