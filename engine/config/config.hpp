#pragma once
// charla's configuration: one JSON file plus environment overrides (secrets only
// from the environment). Loading is strict: an unknown key or a value of the wrong
// type is a ConfigError whose message names the key, so a typo never silently
// falls back to a default. The CLI turns ConfigError into exit code 2.
#include "config/events_config.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace charla::config {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct WhatsAppNumber {
  std::string phone_number_id;
  std::string flow;             // flow name; empty: the default flow
  std::string token;            // Graph API bearer token (required unless whatsapp.sink)
  std::string app_secret;       // for X-Hub-Signature-256
  double max_per_second = 80;   // throughput cap for this number
  std::string token_env;        // where the token was looked for, for error messages
};

struct WhatsAppConfig {
  std::string api_base = "https://graph.facebook.com";
  std::string api_version = "v21.0";
  std::string verify_token;
  std::string app_secret;       // default for numbers without their own
  bool insecure_skip_signature = false;
  int max_attempts = 8;         // sends before a message is dead-lettered
  std::int64_t request_timeout_ms = 15'000;
  int max_in_flight = 32;       // Graph requests in flight at once per business number
  double retry_time_scale = 1.0;  // multiplies retry delays; < 1 only in tests
  // Explicit sink mode (whatsapp.sink / WHATSAPP_SINK=1): replies are committed and
  // logged, never sent. Also the mode when no number is configured at all.
  bool sink = false;
  std::vector<WhatsAppNumber> numbers;
  const WhatsAppNumber* find(const std::string& phone_number_id) const;
  bool sink_mode() const { return sink || numbers.empty(); }
};

// A base URL that ends in a version segment ("https://graph.facebook.com/v21.0", the
// form other WhatsApp tools use) becomes base + api_version; trailing slashes go.
void split_api_version(WhatsAppConfig& whatsapp);
// Outside sink mode every configured number needs a token: otherwise its replies would
// vanish. Throws ConfigError naming the number and the environment variable expected.
void check_tokens(const WhatsAppConfig& whatsapp);
// Throws ConfigError when a number's `flow` names none of the loaded flows.
void check_number_flows(const WhatsAppConfig& whatsapp, const std::vector<std::string>& loaded_flows);

struct Config {
  std::filesystem::path file;       // empty when running on env vars and flags only
  std::filesystem::path data_dir = "data";
  std::string http_bind = "127.0.0.1";
  std::uint16_t http_port = 8080;
  int workers = 0;                  // 0: number of cores
  int worker_nice = 0;              // niceness of the worker threads: turns yield the CPU to intake
  std::vector<std::filesystem::path> flows;
  std::string default_flow;         // empty: the first flow loaded
  std::string log_level = "info";
  bool log_redact_text = false;     // log.redact_text: customers' words never reach the logs
  std::string admin_token;
  // CHARLA_SECRET_KEY: 32 bytes (64 hex characters) that encrypt secrets kept in the
  // store (tokens replaced through the admin API); empty when not set.
  std::string secret_key_hex;
  std::int64_t http_header_timeout_ms = 10'000;  // a request's headers must arrive in this
  std::int64_t http_max_connections = 10'000;   // lowered to fit the fd limit
  std::int64_t http_threads = 1;                // threads accepting, parsing and answering HTTP
  std::string metrics_token;        // env CHARLA_METRICS_TOKEN; empty: /metrics is open

  struct Lua {
    std::uint64_t instruction_budget = 10'000'000;
    std::uint64_t memory_limit_mb = 64;
    std::string fallback_text = "Lo siento, tuve un problema. ¿Puedes intentarlo de nuevo?";
    std::int64_t turn_time_budget_ms = 20'000;
  } lua;

  struct Store {
    std::uint64_t map_size_mb = 1024;
    std::uint64_t max_map_size_mb = 65536;
    bool durable = true;
    std::int64_t history_limit = 50;        // entries kept per conversation
    std::int64_t seen_retention_hours = 168;  // dedup window (Meta retries for 7 days)
    std::int64_t inbox_max_attempts = 3;    // interrupted runs before an inbox entry is quarantined
  } store;

  WhatsAppConfig whatsapp;
  nlohmann::json plugins = nlohmann::json::object();  // name -> plugin config block
  // `flow_settings`: flow name -> object, read by that flow as ctx.settings.
  std::map<std::string, nlohmann::json> flow_settings;
  EventsConfig events;              // config/events_config.hpp
};

// Throws ConfigError when `flow_settings` names a flow that is not loaded (a typo
// would otherwise leave the flow on empty settings).
void check_flow_settings(const std::map<std::string, nlohmann::json>& flow_settings,
                         const std::vector<std::string>& loaded_flows);

using Env = std::function<std::optional<std::string>(const std::string& name)>;
Env process_env();

// Reads the file (if given), then applies environment overrides, then validates.
// Relative paths in the file resolve against the file's directory.
Config load(const std::optional<std::filesystem::path>& file, const Env& env = process_env());

// Applies only the environment overrides (used by load, exposed for tests).
void apply_env(Config& config, const Env& env);

}  // namespace charla::config
