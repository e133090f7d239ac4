#pragma once
// The `events` config block: webhooks that receive charla's business events
// (runtime/event_log.hpp, engine/events/).
//
//   "events": {"webhooks": [{"url": "https://crm.example/hooks/charla",
//                            "secret_env": "CRM_SECRET",
//                            "events": ["lead.*", "handoff.started"]}],
//              "max_attempts": 10, "request_timeout_ms": 10000}
//
// Every webhook needs a secret (its HMAC-SHA256 key) from the environment variable it
// names: a missing or empty one is a ConfigError naming the variable (exit 2), so
// unsigned events are never sent.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace charla::config {

struct EventWebhook {
  std::string url;
  std::string secret_env;
  std::string secret;                 // the variable's value
  std::vector<std::string> events;    // name globs ('*'); empty: every event
};

struct EventsConfig {
  std::vector<EventWebhook> webhooks;
  int max_attempts = 10;              // POSTs before an event is dead-lettered
  std::int64_t request_timeout_ms = 10'000;
  double retry_time_scale = 1.0;      // multiplies retry delays; < 1 only in tests
};

// Reads the block at config key `events`; getenv looks up the secrets. Throws
// ConfigError naming the key or the environment variable.
void read_events(const nlohmann::json& block, EventsConfig& events,
                 const std::function<std::optional<std::string>(const std::string&)>& getenv);

}  // namespace charla::config
