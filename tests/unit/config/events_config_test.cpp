// The `events` block: webhooks with their secrets from the environment; a missing
// secret or a typo is refused naming the variable or the key.
#include "config/config.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <map>

using namespace charla::config;
using Catch::Matchers::Contains;

namespace {

Env env_of(std::map<std::string, std::string> vars) {
  return [vars](const std::string& k) -> std::optional<std::string> {
    auto it = vars.find(k);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}

Config load_text(const std::string& text, std::map<std::string, std::string> vars = {}) {
  charla::test::TempDir dir;
  return load(dir.write("charla.json", text), env_of(std::move(vars)));
}

std::string error_of(const std::string& text, std::map<std::string, std::string> vars = {}) {
  try {
    load_text(text, std::move(vars));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("events webhooks are read with their secrets and filters", "[config][events]") {
  auto c = load_text(R"({"events": {"max_attempts": 5, "webhooks": [
      {"url": "https://crm.example/hook", "secret_env": "CRM_SECRET", "events": ["lead.*", "handoff.started"]},
      {"url": "http://127.0.0.1:9000/all", "secret_env": "DESK_SECRET"}]}})",
                     {{"CRM_SECRET", "s1"}, {"DESK_SECRET", "s2"}});
  REQUIRE(c.events.webhooks.size() == 2);
  CHECK(c.events.max_attempts == 5);
  CHECK(c.events.webhooks[0].url == "https://crm.example/hook");
  CHECK(c.events.webhooks[0].secret == "s1");
  CHECK(c.events.webhooks[0].events == std::vector<std::string>{"lead.*", "handoff.started"});
  CHECK(c.events.webhooks[1].secret == "s2");
  CHECK(c.events.webhooks[1].events.empty());
  CHECK(load_text("{}").events.webhooks.empty());
}

TEST_CASE("events config errors name the variable or the key", "[config][events]") {
  CHECK_THAT(error_of(R"({"events": {"webhooks": [{"url": "https://x", "secret_env": "CRM_SECRET"}]}})"),
             Contains("environment variable CRM_SECRET") && Contains("is not set"));
  CHECK_THAT(error_of(R"({"events": {"webhooks": [{"url": "https://x", "secret_env": "CRM_SECRET"}]}})",
                      {{"CRM_SECRET", ""}}),
             Contains("CRM_SECRET"));
  CHECK_THAT(error_of(R"({"events": {"webhooks": [{"secret_env": "S"}]}})", {{"S", "x"}}),
             Contains("'events.webhooks[0].url' is required"));
  CHECK_THAT(error_of(R"({"events": {"webhooks": [{"url": "ftp://x", "secret_env": "S"}]}})", {{"S", "x"}}),
             Contains("must start with http:// or https://"));
  CHECK_THAT(error_of(R"({"events": {"webhooks": [{"url": "https://x", "secret_env": "S", "evnts": []}]}})",
                      {{"S", "x"}}),
             Contains("unknown config key 'events.webhooks[0].evnts'"));
  CHECK_THAT(error_of(R"({"events": {"webhooks": [{"url": "https://x", "secret_env": "S", "events": "lead.*"}]}})",
                      {{"S", "x"}}),
             Contains("'events.webhooks[0].events' must be an array"));
  CHECK_THAT(error_of(R"({"events": {"max_attempts": 0}})"), Contains("'events.max_attempts'"));
  CHECK_THAT(error_of(R"({"events": {"hooks": []}})"), Contains("unknown config key 'events.hooks'"));
}
