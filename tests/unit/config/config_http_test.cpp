// The HTTP listener's hardening keys: connection cap, header timeout, metrics token.
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

}  // namespace

TEST_CASE("http.max_connections and http.header_timeout_ms are read and checked") {
  charla::test::TempDir dir;
  auto defaults = load(std::nullopt, env_of({}));
  CHECK(defaults.http_max_connections == 10'000);
  CHECK(defaults.http_header_timeout_ms == 10'000);
  CHECK(defaults.metrics_token.empty());

  auto file = dir.write("charla.json", R"({"http": {"max_connections": 500, "header_timeout_ms": 2500}})");
  auto c = load(file, env_of({{"CHARLA_METRICS_TOKEN", "m-token"}}));
  CHECK(c.http_max_connections == 500);
  CHECK(c.http_header_timeout_ms == 2500);
  CHECK(c.metrics_token == "m-token");

  auto bad = dir.write("bad.json", R"({"http": {"header_timeout_ms": 5}})");
  CHECK_THROWS_WITH(load(bad, env_of({})), Catch::Contains("config key 'http.header_timeout_ms' must be between 100"));
  auto zero = dir.write("zero.json", R"({"http": {"max_connections": 0}})");
  CHECK_THROWS_WITH(load(zero, env_of({})), Catch::Contains("config key 'http.max_connections' must be between 1"));
}

TEST_CASE("http.threads is read and checked") {
  charla::test::TempDir dir;
  CHECK(load(std::nullopt, env_of({})).http_threads == 1);
  auto file = dir.write("charla.json", R"({"http": {"threads": 4}})");
  CHECK(load(file, env_of({})).http_threads == 4);
  auto zero = dir.write("zero.json", R"({"http": {"threads": 0}})");
  CHECK_THROWS_WITH(load(zero, env_of({})), Catch::Contains("config key 'http.threads' must be between 1 and 64"));
}
