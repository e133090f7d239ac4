// Arbitrary bytes as charla.json (plus environment overrides): config::load must
// either return a configuration or throw ConfigError with a message, never crash,
// hang or throw anything else (the CLI maps only ConfigError to exit code 2).
//
// Input: the file's bytes, optionally followed by a NUL and "NAME=VALUE" lines that
// become the environment (so CHARLA_HTTP_PORT, WHATSAPP_* ... are fuzzed too).
#include "config/config.hpp"

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <string_view>

namespace {

void require(bool condition) {
  if (!condition) std::abort();  // a broken invariant is a finding
}

// One file per process, rewritten for every input: load() reads a path.
const std::string& config_path() {
  static const std::string path = [] {
    std::string pattern = "/tmp/charla-fuzz-config-XXXXXX";
    const int fd = mkstemp(pattern.data());
    require(fd >= 0);
    close(fd);
    std::atexit([] { std::remove(config_path().c_str()); });
    return pattern;
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace charla::config;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto nul = input.find('\0');
  const std::string_view file_bytes = input.substr(0, nul);

  std::map<std::string, std::string, std::less<>> vars;
  if (nul != std::string_view::npos) {
    std::string_view rest = input.substr(nul + 1);
    while (!rest.empty()) {
      const auto eol = rest.find('\n');
      const std::string_view line = rest.substr(0, eol);
      if (const auto eq = line.find('='); eq != std::string_view::npos)
        vars.emplace(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
      if (eol == std::string_view::npos) break;
      rest.remove_prefix(eol + 1);
    }
  }
  const Env env = [&vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };

  {
    std::ofstream out(config_path(), std::ios::binary | std::ios::trunc);
    out.write(file_bytes.data(), static_cast<std::streamsize>(file_bytes.size()));
    require(static_cast<bool>(out));
  }
  try {
    const Config config = load(config_path(), env);
    // What load promises about a configuration it returns.
    require(config.store.max_map_size_mb >= config.store.map_size_mb);
    require(config.workers >= 0 && config.workers <= 256);
    require(config.plugins.is_object());
    for (const auto& [name, block] : config.plugins.items()) require(block.is_object());
    for (const auto& n : config.whatsapp.numbers) require(!n.phone_number_id.empty());
    (void)config.plugins.dump();  // what serve hands to plugins must serialise
  } catch (const ConfigError& e) {
    require(e.what()[0] != '\0');  // an error says what is wrong
  }
  return 0;
}
