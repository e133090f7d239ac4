// docs/lua/charla.lua (the LuaLS annotations editors read) describes every ctx method
// and field the engine registers, so completion never misses one after a change.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace {

std::string slurp(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("the LuaLS annotations describe every ctx method and field", "[lua][docs]") {
  const std::filesystem::path source = CHARLA_SOURCE_DIR;
  const std::string meta = slurp(source / "docs/lua/charla.lua");
  REQUIRE(meta.rfind("---@meta", 0) == 0);
  const std::regex registration(R"re(add_ctx_(method|field)\(L, "(\w+)")re");
  std::set<std::string> seen;
  for (const auto& entry : std::filesystem::directory_iterator(source / "engine/lua")) {
    if (entry.path().extension() != ".cpp") continue;
    const std::string text = slurp(entry.path());
    for (std::sregex_iterator it(text.begin(), text.end(), registration), end; it != end; ++it) {
      const std::string name = (*it)[2];
      if (name == "goto") continue;  // a Lua keyword: documented as its alias ctx:go
      seen.insert(name);
      INFO("ctx." << name << " (registered in " << entry.path().filename().string() << ")");
      CHECK((meta.find("function Ctx:" + name + "(") != std::string::npos ||
             meta.find("---@field " + name + " ") != std::string::npos ||
             meta.find("---@field " + name + "? ") != std::string::npos));
    }
  }
  CHECK(seen.count("clock") == 1);  // the scan found the registrations
  CHECK(seen.count("say") == 1);
}
