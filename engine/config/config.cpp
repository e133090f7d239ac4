#include "config/config.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

namespace charla::config {
namespace {

using nlohmann::json;

// Reads one JSON object, remembering which keys were consumed so the leftovers can
// be reported as unknown with their full path.
class ObjectReader {
 public:
  ObjectReader(const json& object, std::string path) : object_(object), path_(std::move(path)) {
    if (!object_.is_object()) throw ConfigError(where("") + "must be an object");
  }

  const json* take(const std::string& key) {
    known_.insert(key);
    auto it = object_.find(key);
    return it == object_.end() || it->is_null() ? nullptr : &*it;
  }

  void string(const std::string& key, std::string& out) {
    if (auto* v = take(key)) {
      if (!v->is_string()) throw ConfigError(where(key) + "must be a string");
      out = v->get<std::string>();
    }
  }

  void boolean(const std::string& key, bool& out) {
    if (auto* v = take(key)) {
      if (!v->is_boolean()) throw ConfigError(where(key) + "must be true or false");
      out = v->get<bool>();
    }
  }

  template <typename Int>
  void integer(const std::string& key, Int& out, std::int64_t min, std::int64_t max) {
    if (auto* v = take(key)) {
      if (!v->is_number_integer()) throw ConfigError(where(key) + "must be an integer");
      auto n = v->get<std::int64_t>();
      if (n < min || n > max)
        throw ConfigError(where(key) + "must be between " + std::to_string(min) + " and " + std::to_string(max));
      out = static_cast<Int>(n);
    }
  }

  void number(const std::string& key, double& out, double min) {
    if (auto* v = take(key)) {
      if (!v->is_number() || v->get<double>() <= min)
        throw ConfigError(where(key) + "must be a number greater than " + std::to_string(static_cast<int>(min)));
      out = v->get<double>();
    }
  }

  ObjectReader child(const std::string& key) {
    static const json empty = json::object();
    auto* v = take(key);
    return ObjectReader(v ? *v : empty, qualified(key));
  }

  std::string qualified(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  std::string where(const std::string& key) const { return "config key '" + qualified(key) + "' "; }

  void reject_unknown() const {
    for (auto& [key, _] : object_.items())
      if (!known_.count(key)) throw ConfigError("unknown config key '" + qualified(key) + "'");
  }

 private:
  const json& object_;
  std::string path_;
  std::set<std::string> known_;
};

std::filesystem::path resolve(const std::filesystem::path& base, const std::string& p) {
  std::filesystem::path path(p);
  return path.is_absolute() || base.empty() ? path : base / path;
}

void read_lua(ObjectReader r, Config::Lua& lua) {
  r.integer("instruction_budget", lua.instruction_budget, 1000, 10'000'000'000);
  r.integer("memory_limit_mb", lua.memory_limit_mb, 1, 65536);
  r.string("fallback_text", lua.fallback_text);
  r.integer("turn_time_budget_ms", lua.turn_time_budget_ms, 1, 3'600'000);
  r.reject_unknown();
}

void read_store(ObjectReader r, Config::Store& store) {
  r.integer("map_size_mb", store.map_size_mb, 1, 1 << 24);
  r.integer("max_map_size_mb", store.max_map_size_mb, 1, 1 << 24);
  r.boolean("durable", store.durable);
  r.integer("history_limit", store.history_limit, 1, 100'000);
  r.integer("seen_retention_hours", store.seen_retention_hours, 1, 24 * 365);
  r.integer("inbox_max_attempts", store.inbox_max_attempts, 1, 1000);
  r.reject_unknown();
}

void read_whatsapp(ObjectReader r, WhatsAppConfig& wa, const Env& env) {
  r.string("api_base", wa.api_base);
  r.boolean("sink", wa.sink);
  r.string("api_version", wa.api_version);
  r.boolean("insecure_skip_signature", wa.insecure_skip_signature);
  r.integer("max_attempts", wa.max_attempts, 1, 1000);
  r.integer("request_timeout_ms", wa.request_timeout_ms, 100, 600'000);
  r.integer("max_in_flight", wa.max_in_flight, 1, 4096);
  r.number("retry_time_scale", wa.retry_time_scale, 0);
  if (auto* numbers = r.take("numbers")) {
    if (!numbers->is_array()) throw ConfigError(r.where("numbers") + "must be an array");
    for (std::size_t i = 0; i < numbers->size(); ++i) {
      ObjectReader n((*numbers)[i], r.qualified("numbers") + "[" + std::to_string(i) + "]");
      WhatsAppNumber number;
      n.string("phone_number_id", number.phone_number_id);
      n.string("flow", number.flow);
      n.number("max_per_second", number.max_per_second, 0);
      // Secrets never live in the file: each number names the env vars holding them.
      std::string secret_env;
      n.string("token_env", number.token_env);
      n.string("app_secret_env", secret_env);
      if (auto t = number.token_env.empty() ? std::nullopt : env(number.token_env)) number.token = *t;
      if (auto s = secret_env.empty() ? std::nullopt : env(secret_env)) number.app_secret = *s;
      n.reject_unknown();
      if (number.phone_number_id.empty())
        throw ConfigError("config key '" + n.qualified("phone_number_id") + "' is required");
      wa.numbers.push_back(std::move(number));
    }
  }
  r.reject_unknown();
}

void read_file(const std::filesystem::path& file, Config& config, const Env& env) {
  std::ifstream in(file);
  if (!in) throw ConfigError("cannot read config file " + file.string());
  json root;
  try {
    root = json::parse(in);
  } catch (const json::exception& e) {  // also out_of_range: a number too large for a double
    throw ConfigError(file.string() + ": invalid JSON: " + e.what());
  }
  const auto base = file.parent_path();
  ObjectReader r(root, "");
  std::string data_dir;
  r.string("data_dir", data_dir);
  if (!data_dir.empty()) config.data_dir = resolve(base, data_dir);
  r.integer("workers", config.workers, 0, 256);
  r.integer("worker_nice", config.worker_nice, 0, 19);
  r.string("default_flow", config.default_flow);
  r.string("log_level", config.log_level);
  if (auto* flows = r.take("flows")) {
    if (!flows->is_array()) throw ConfigError("config key 'flows' must be an array of file paths");
    for (auto& f : *flows) {
      if (!f.is_string()) throw ConfigError("config key 'flows' must be an array of file paths");
      config.flows.push_back(resolve(base, f.get<std::string>()));
    }
  }
  auto http = r.child("http");
  http.string("bind", config.http_bind);
  http.integer("port", config.http_port, 0, 65535);
  http.integer("header_timeout_ms", config.http_header_timeout_ms, 100, 600'000);
  http.integer("max_connections", config.http_max_connections, 1, 1'000'000);
  http.integer("threads", config.http_threads, 1, 64);
  http.reject_unknown();
  auto log_block = r.child("log");
  log_block.boolean("redact_text", config.log_redact_text);
  log_block.reject_unknown();
  read_lua(r.child("lua"), config.lua);
  read_store(r.child("store"), config.store);
  read_whatsapp(r.child("whatsapp"), config.whatsapp, env);
  if (auto* plugins = r.take("plugins")) {
    if (!plugins->is_object()) throw ConfigError("config key 'plugins' must be an object");
    config.plugins = *plugins;
  }
  if (auto* settings = r.take("flow_settings")) {
    if (!settings->is_object())
      throw ConfigError("config key 'flow_settings' must be an object: flow name -> { settings }");
    for (auto& [flow, block] : settings->items()) {
      if (!block.is_object())
        throw ConfigError("config key 'flow_settings." + flow + "' must be an object of settings, got " +
                          std::string(block.type_name()));
      config.flow_settings[flow] = block;
    }
  }
  if (auto* events = r.take("events")) read_events(*events, config.events, env);
  r.reject_unknown();
}

std::optional<std::string> first_env(const Env& env, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (auto v = env(n); v && !v->empty()) return v;
  return std::nullopt;
}

}  // namespace

const WhatsAppNumber* WhatsAppConfig::find(const std::string& phone_number_id) const {
  for (auto& n : numbers)
    if (n.phone_number_id == phone_number_id) return &n;
  return nullptr;
}

Env process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    return v ? std::optional<std::string>(v) : std::nullopt;
  };
}

void apply_env(Config& config, const Env& env) {
  if (auto v = first_env(env, {"CHARLA_DATA_DIR"})) config.data_dir = *v;
  if (auto v = first_env(env, {"CHARLA_HTTP_PORT"})) {
    try {
      std::size_t used = 0;
      int port = std::stoi(*v, &used);
      if (used != v->size() || port < 0 || port > 65535) throw std::out_of_range("port");
      config.http_port = static_cast<std::uint16_t>(port);
    } catch (const std::exception&) {
      throw ConfigError("environment variable CHARLA_HTTP_PORT='" + *v + "' is not a port number (0-65535)");
    }
  }
  if (auto v = first_env(env, {"CHARLA_ADMIN_TOKEN"})) config.admin_token = *v;
  if (auto v = first_env(env, {"CHARLA_METRICS_TOKEN"})) config.metrics_token = *v;
  if (auto v = first_env(env, {"CHARLA_LOG_LEVEL"})) config.log_level = *v;
  auto& wa = config.whatsapp;
  if (auto v = first_env(env, {"WHATSAPP_API_BASE"})) wa.api_base = *v;
  if (auto v = first_env(env, {"WHATSAPP_API_VERSION"})) wa.api_version = *v;
  if (auto v = first_env(env, {"WHATSAPP_VERIFY_TOKEN", "WHATSAPP_WEBHOOK_VERIFY_TOKEN"})) wa.verify_token = *v;
  if (auto v = first_env(env, {"WHATSAPP_APP_SECRET"})) wa.app_secret = *v;
  // The single-number variables work with no config file at all.
  if (auto id = first_env(env, {"WHATSAPP_PHONE_NUMBER_ID"})) {
    if (!wa.find(*id)) wa.numbers.push_back(WhatsAppNumber{*id, "", "", "", 80, ""});
  }
  if (auto token = first_env(env, {"WHATSAPP_API_TOKEN", "WHATSAPP_TOKEN", "WHATSAPP_ACCESS_TOKEN"})) {
    for (auto& n : wa.numbers)
      if (n.token.empty()) n.token = *token;
  }
  if (auto v = first_env(env, {"WHATSAPP_SINK"})) {
    if (*v == "1" || *v == "true") wa.sink = true;
    else if (*v == "0" || *v == "false") wa.sink = false;
    else throw ConfigError("environment variable WHATSAPP_SINK='" + *v + "' must be 1, 0, true or false");
  }
  if (auto v = first_env(env, {"CHARLA_SECRET_KEY"})) {
    if (v->size() != 64 || v->find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
      throw ConfigError("environment variable CHARLA_SECRET_KEY must be 64 hex characters (32 bytes), e.g. "
                        "the output of `openssl rand -hex 32`; it has " + std::to_string(v->size()) + " characters");
    config.secret_key_hex = *v;
  }
  for (auto& n : wa.numbers)
    if (n.app_secret.empty()) n.app_secret = wa.app_secret;
  // An LLM configured through the environment alone enables the llm plugin.
  if (first_env(env, {"LLM_BASE_URL"}) && !config.plugins.contains("llm")) config.plugins["llm"] = json::object();
}

Config load(const std::optional<std::filesystem::path>& file, const Env& env) {
  Config config;
  if (file) {
    config.file = *file;
    read_file(*file, config, env);
  }
  apply_env(config, env);
  split_api_version(config.whatsapp);
  if (config.store.max_map_size_mb < config.store.map_size_mb)
    throw ConfigError("config key 'store.max_map_size_mb' must be >= 'store.map_size_mb'");
  static const std::set<std::string> levels{"debug", "info", "warn", "error", "off"};
  if (!levels.count(config.log_level))
    throw ConfigError("config key 'log_level' must be one of debug, info, warn, error, off (got '" + config.log_level + "')");
  for (auto& [name, block] : config.plugins.items())
    if (!block.is_object()) throw ConfigError("config key 'plugins." + name + "' must be an object");
  return config;
}

void split_api_version(WhatsAppConfig& wa) {
  auto& base = wa.api_base;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const auto slash = base.rfind('/');
  // Only a path segment after the host counts ("https://v21.example" is a host).
  const auto host = base.find("://");
  if (slash == std::string::npos || host == std::string::npos || slash <= host + 2) return;
  const std::string segment = base.substr(slash + 1);
  const auto dot = segment.find('.');
  auto digits = [](const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; };
  if (segment.size() < 2 || segment[0] != 'v' || !digits(segment.substr(1, dot == std::string::npos ? std::string::npos : dot - 1)) ||
      (dot != std::string::npos && !digits(segment.substr(dot + 1))))
    return;
  wa.api_version = segment;
  base.erase(slash);
}

void check_tokens(const WhatsAppConfig& wa) {
  if (wa.sink_mode()) return;
  for (auto& n : wa.numbers) {
    if (!n.token.empty()) continue;
    std::string looked = n.token_env.empty() ? "" : n.token_env + " (its token_env), then ";
    throw ConfigError("whatsapp number " + n.phone_number_id + " has no Graph API token: looked in the environment for " +
                      looked + "WHATSAPP_API_TOKEN, WHATSAPP_TOKEN, WHATSAPP_ACCESS_TOKEN; none is set. Set one, or "
                      "set whatsapp.sink: true (or WHATSAPP_SINK=1) to log replies instead of sending them");
  }
}

void check_number_flows(const WhatsAppConfig& wa, const std::vector<std::string>& loaded) {
  for (auto& n : wa.numbers) {
    if (n.flow.empty() || std::find(loaded.begin(), loaded.end(), n.flow) != loaded.end()) continue;
    std::string names;
    for (auto& f : loaded) names += (names.empty() ? "" : ", ") + f;
    throw ConfigError("whatsapp number " + n.phone_number_id + ": its flow '" + n.flow +
                      "' is not loaded (loaded flows: " + (names.empty() ? "none" : names) + ")");
  }
}

void check_flow_settings(const std::map<std::string, nlohmann::json>& flow_settings,
                         const std::vector<std::string>& loaded) {
  for (const auto& [flow, _] : flow_settings) {
    if (std::find(loaded.begin(), loaded.end(), flow) != loaded.end()) continue;
    std::string names;
    for (const auto& n : loaded) names += (names.empty() ? "" : ", ") + n;
    throw ConfigError("flow_settings." + flow + ": no loaded flow is named '" + flow + "' (loaded flows: " +
                      (names.empty() ? "none" : names) + "; a flow's name is its `name = ...`)");
  }
}

}  // namespace charla::config
