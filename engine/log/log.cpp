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
std::atomic<bool> g_redact_text{false};

std::size_t code_points(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Keys whose string values (at any depth of a message) are words, not structure.
bool is_text_key(std::string_view k) {
  return k == "text" || k == "caption" || k == "header" || k == "title" || k == "description" || k == "body" ||
         k == "button" || k == "display_text" || k == "parameters" || k == "address" || k == "emoji";
}

void redact_in(nlohmann::json& v, bool words) {
  if (v.is_string()) {
    if (words) v = text(v.get_ref<const std::string&>());
  } else if (v.is_object()) {
    for (auto& [k, child] : v.items()) redact_in(child, words || is_text_key(k));
  } else if (v.is_array()) {
    for (auto& child : v) redact_in(child, words);
  }
}

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
void set_redact_text(bool on) { g_redact_text.store(on); }
bool redact_text() { return g_redact_text.load(std::memory_order_relaxed); }

std::string text(std::string_view t) {
  if (!redact_text()) return std::string(t);
  return "[redacted " + std::to_string(code_points(t)) + " chars]";
}

nlohmann::json message(const nlohmann::json& m) {
  if (!redact_text()) return m;
  nlohmann::json copy = m;
  redact_in(copy, false);
  return copy;
}
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
