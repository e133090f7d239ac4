// The WhatsApp block of the configuration: the API base URL in the form other tools
// write it, explicit sink mode, and the checks that keep replies from vanishing
// (a number without a token, a number whose flow is not loaded).
#include "config/config.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <map>

using namespace charla::config;

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

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("an API base that ends in a version segment is taken as base + version") {
  auto c = load(std::nullopt, env_of({{"WHATSAPP_API_BASE", "https://graph.facebook.com/v21.0"}}));
  CHECK(c.whatsapp.api_base == "https://graph.facebook.com");
  CHECK(c.whatsapp.api_version == "v21.0");
  c = load(std::nullopt, env_of({{"WHATSAPP_API_BASE", "https://graph.facebook.com/v19.0/"},
                                 {"WHATSAPP_API_VERSION", "v22.0"}}));
  CHECK(c.whatsapp.api_base == "https://graph.facebook.com");
  CHECK(c.whatsapp.api_version == "v19.0");
  c = load_text(R"({"whatsapp": {"api_base": "http://127.0.0.1:9000/proxy/v22"}})");
  CHECK(c.whatsapp.api_base == "http://127.0.0.1:9000/proxy");
  CHECK(c.whatsapp.api_version == "v22");
  // Not a version segment: left alone.
  for (const char* base : {"https://graph.facebook.com", "https://graph.facebook.com/", "http://v21.example",
                           "http://127.0.0.1:9000/video", "http://127.0.0.1:9000/v21.x"}) {
    c = load(std::nullopt, env_of({{"WHATSAPP_API_BASE", base}}));
    CHECK(c.whatsapp.api_version == "v21.0");
    std::string expected = base;
    if (expected.back() == '/') expected.pop_back();
    CHECK(c.whatsapp.api_base == expected);
  }
}

TEST_CASE("a configured number without a token is an error naming the number and the variable") {
  auto c = load_text(R"({"whatsapp": {"numbers": [{"phone_number_id": "111", "token_env": "TOKEN_111"},
                                                  {"phone_number_id": "222", "token_env": "TOKEN_TYPO"}]}})",
                     {{"TOKEN_111", "t1"}});
  CHECK_FALSE(c.whatsapp.sink_mode());
  CHECK(c.whatsapp.find("111")->token == "t1");
  auto error = error_of([&] { check_tokens(c.whatsapp); });
  CHECK(error.find("whatsapp number 222 has no Graph API token") != std::string::npos);
  CHECK(error.find("TOKEN_TYPO") != std::string::npos);
  CHECK(error.find("WHATSAPP_SINK=1") != std::string::npos);

  // The single-number variables: an id without a token is the same error.
  auto single = load(std::nullopt, env_of({{"WHATSAPP_PHONE_NUMBER_ID", "555"}}));
  CHECK(error_of([&] { check_tokens(single.whatsapp); }).find("555") != std::string::npos);
}

TEST_CASE("sink mode is explicit: no number at all, whatsapp.sink or WHATSAPP_SINK") {
  CHECK(load_text("{}").whatsapp.sink_mode());
  CHECK_NOTHROW(check_tokens(load_text("{}").whatsapp));
  const std::string tokenless = R"({"whatsapp": {"numbers": [{"phone_number_id": "111", "token_env": "NOPE"}]}})";
  CHECK_FALSE(load_text(tokenless).whatsapp.sink_mode());
  auto by_env = load_text(tokenless, {{"WHATSAPP_SINK", "1"}});
  CHECK(by_env.whatsapp.sink_mode());
  CHECK_NOTHROW(check_tokens(by_env.whatsapp));
  auto by_file = load_text(R"({"whatsapp": {"sink": true, "numbers": [{"phone_number_id": "111"}]}})");
  CHECK(by_file.whatsapp.sink_mode());
  CHECK_NOTHROW(check_tokens(by_file.whatsapp));
  CHECK(error_of([&] { load_text("{}", {{"WHATSAPP_SINK", "yes please"}}); }).find("WHATSAPP_SINK") !=
        std::string::npos);
}

TEST_CASE("a number whose flow is not loaded is an error naming the flow and the loaded ones") {
  auto c = load_text(R"({"whatsapp": {"numbers": [{"phone_number_id": "111", "flow": "insurance"},
                                                  {"phone_number_id": "222", "flow": "insurence"},
                                                  {"phone_number_id": "333"}]}})");
  auto error = error_of([&] { check_number_flows(c.whatsapp, {"insurance", "clinic"}); });
  CHECK(error == "whatsapp number 222: its flow 'insurence' is not loaded (loaded flows: insurance, clinic)");
  CHECK_NOTHROW(check_number_flows(c.whatsapp, {"insurance", "insurence"}));
}

TEST_CASE("CHARLA_SECRET_KEY must be 32 bytes of hex") {
  const std::string key(64, 'a');
  CHECK(load(std::nullopt, env_of({{"CHARLA_SECRET_KEY", key}})).secret_key_hex == key);
  CHECK(load(std::nullopt, env_of({})).secret_key_hex.empty());
  CHECK(error_of([] { load(std::nullopt, env_of({{"CHARLA_SECRET_KEY", "short"}})); }).find("64 hex characters") !=
        std::string::npos);
}
