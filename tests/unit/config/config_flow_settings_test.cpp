// `flow_settings`: a settings object per flow, read by the flow as ctx.settings. The
// key is accepted (unknown keys are still refused), its shape is checked, and a
// block naming no loaded flow is an error instead of a silently unused block.
#include "config/config.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

using namespace charla::config;

namespace {

std::optional<std::string> no_env(const std::string&) { return std::nullopt; }

}  // namespace

TEST_CASE("flow_settings is read per flow and checked") {
  charla::test::TempDir dir;
  auto file = dir.write("charla.json", R"({"flow_settings": {"clinic": {"reminder_hours": 24, "agenda": {"url": "http://a"}}}})");
  const Config c = load(file, no_env);
  REQUIRE(c.flow_settings.count("clinic") == 1);
  CHECK(c.flow_settings.at("clinic")["reminder_hours"] == 24);
  CHECK(c.flow_settings.at("clinic")["agenda"]["url"] == "http://a");

  CHECK_THROWS_WITH(load(dir.write("a.json", R"({"flow_settings": [1]})"), no_env),
                    Catch::Contains("config key 'flow_settings' must be an object"));
  CHECK_THROWS_WITH(load(dir.write("b.json", R"({"flow_settings": {"clinic": 3}})"), no_env),
                    Catch::Contains("config key 'flow_settings.clinic' must be an object of settings, got number"));
  CHECK_THROWS_WITH(load(dir.write("c.json", R"({"flow_setings": {}})"), no_env), Catch::Contains("flow_setings"));

  CHECK_NOTHROW(check_flow_settings(c.flow_settings, {"insurance", "clinic"}));
  CHECK_THROWS_WITH(check_flow_settings(c.flow_settings, {"insurance", "clinica"}),
                    Catch::Contains("flow_settings.clinic: no loaded flow is named 'clinic' (loaded flows: insurance, clinica"));
}
