#include "log/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <stdexcept>

namespace charla::log {
namespace {
std::atomic<Level> g_level{Level::info};
std::mutex g_write_mutex;

const char* level_name(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
    case Level::off: return "off";
  }
  return "info";
}
}  // namespace

void set_level(Level l) { g_level.store(l); }
Level level() { return g_level.load(); }

Level parse_level(std::string_view name) {
  for (Level l : {Level::debug, Level::info, Level::warn, Level::error, Level::off})
    if (name == level_name(l)) return l;
  throw std::invalid_argument("unknown log level '" + std::string(name) + "' (use debug, info, warn, error, off)");
}

void write(Level l, std::string_view event, nlohmann::json fields) {
  if (l < g_level.load(std::memory_order_relaxed)) return;
  using namespace std::chrono;
  nlohmann::json line = nlohmann::json::object();
  line["ts"] = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  line["level"] = level_name(l);
  line["event"] = event;
  if (fields.is_object())
    for (auto& [k, v] : fields.items()) line[k] = std::move(v);
  const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard lock(g_write_mutex);
  std::fwrite(text.data(), 1, text.size(), stderr);
}

}  // namespace charla::log
