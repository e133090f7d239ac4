// Configuration is strict: a typo or a wrong type names the key instead of silently
// falling back to a default; environment variables override the file.
#include "config/config.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <map>

using namespace charla::config;

namespace {

// charla.json alone in a fresh directory, so relative paths in it resolve there.
struct ConfigFile {
  charla::test::TempDir dir;
  std::filesystem::path path;
  explicit ConfigFile(const std::string& text) : path(dir.write("charla.json", text)) {}
};

Env env_of(std::map<std::string, std::string> vars) {
  return [vars](const std::string& k) -> std::optional<std::string> {
    auto it = vars.find(k);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}

std::string error_of(const std::string& text, std::map<std::string, std::string> vars = {}) {
  ConfigFile f(text);
  try {
    load(f.path, env_of(std::move(vars)));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a full config file is read, relative paths resolve against its directory") {
  ConfigFile f(R"({"flows": ["flows/a.lua"], "data_dir": "data", "workers": 3,
                   "http": {"port": 9090, "bind": "0.0.0.0"},
                   "lua": {"instruction_budget": 5000, "fallback_text": "Ups"},
                   "whatsapp": {"api_version": "v22.0", "max_in_flight": 48,
                                "numbers": [{"phone_number_id": "111", "flow": "a"}]},
                   "plugins": {"llm": {"model": "m"}}})");
  auto c = load(f.path, env_of({}));
  CHECK(c.flows.at(0) == f.path.parent_path() / "flows/a.lua");
  CHECK(c.data_dir == f.path.parent_path() / "data");
  CHECK(c.workers == 3);
  CHECK(c.http_port == 9090);
  CHECK(c.http_bind == "0.0.0.0");
  CHECK(c.lua.instruction_budget == 5000);
  CHECK(c.lua.fallback_text == "Ups");
  CHECK(c.whatsapp.api_version == "v22.0");
  CHECK(c.whatsapp.max_in_flight == 48);
  REQUIRE(c.whatsapp.find("111"));
  CHECK(c.whatsapp.find("111")->flow == "a");
  CHECK(c.plugins["llm"]["model"] == "m");
}

TEST_CASE("unknown keys and wrong types are refused with the key's name") {
  CHECK(error_of(R"({"http": {"prot": 80}})") == "unknown config key 'http.prot'");
  CHECK(error_of(R"({"wrokers": 2})") == "unknown config key 'wrokers'");
  CHECK(error_of(R"({"workers": "two"})") == "config key 'workers' must be an integer");
  CHECK(error_of(R"({"http": {"port": 70000}})") == "config key 'http.port' must be between 0 and 65535");
  CHECK(error_of(R"({"whatsapp": {"numbers": [{"flow": "x"}]}})") ==
        "config key 'whatsapp.numbers[0].phone_number_id' is required");
  CHECK(error_of(R"({"whatsapp": {"max_in_flight": 0}})") ==
        "config key 'whatsapp.max_in_flight' must be between 1 and 4096");
  CHECK(error_of(R"({"whatsapp": {"max_in_flight": 2.5}})") == "config key 'whatsapp.max_in_flight' must be an integer");
  CHECK(error_of(R"({"log_level": "verbose"})").find("log_level") != std::string::npos);
  CHECK(error_of(R"({"flows": "a.lua"})").find("'flows' must be an array") != std::string::npos);
  CHECK(error_of("{ not json").find("invalid JSON") != std::string::npos);
  // nlohmann reports a number too large for a double as out_of_range, not parse_error.
  CHECK(error_of(R"({"workers": 9999999999999999e9999999})").find("invalid JSON") != std::string::npos);
}

TEST_CASE("environment variables override the file and configure one number without a file") {
  auto c = load(std::nullopt, env_of({{"CHARLA_HTTP_PORT", "8181"},
                                      {"CHARLA_DATA_DIR", "/tmp/x"},
                                      {"WHATSAPP_PHONE_NUMBER_ID", "555"},
                                      {"WHATSAPP_TOKEN", "tok"},
                                      {"WHATSAPP_APP_SECRET", "sec"},
                                      {"WHATSAPP_WEBHOOK_VERIFY_TOKEN", "ver"},
                                      {"LLM_BASE_URL", "http://127.0.0.1:1"}}));
  CHECK(c.http_port == 8181);
  CHECK(c.whatsapp.max_in_flight == 32);  // the default
  CHECK(c.data_dir == "/tmp/x");
  REQUIRE(c.whatsapp.find("555"));
  CHECK(c.whatsapp.find("555")->token == "tok");
  CHECK(c.whatsapp.find("555")->app_secret == "sec");
  CHECK(c.whatsapp.verify_token == "ver");
  CHECK(c.plugins.contains("llm"));
  CHECK(error_of("{}", {{"CHARLA_HTTP_PORT", "80a"}}).find("CHARLA_HTTP_PORT") != std::string::npos);
}

TEST_CASE("worker_nice is read and checked") {
  ConfigFile f(R"({"worker_nice": 7})");
  CHECK(load(f.path, env_of({})).worker_nice == 7);
  CHECK(error_of(R"({"worker_nice": 20})") == "config key 'worker_nice' must be between 0 and 19");
  CHECK(error_of(R"({"worker_nice": -1})") == "config key 'worker_nice' must be between 0 and 19");
}
