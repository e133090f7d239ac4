#pragma once
// Structured logging: one JSON object per line on stderr, so operators can grep
// and ship logs without parsing free text. Every line has ts, level and event;
// callers add fields such as conversation and turn.
#include <nlohmann/json.hpp>
#include <string_view>

namespace charla::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3, off = 4 };

void set_level(Level level);
Level level();
Level parse_level(std::string_view name);  // throws std::invalid_argument

// log.redact_text: customers' words (message texts, captions, flow log lines, which
// often quote msg.text) are written as "[redacted N chars]" (N code points).
void set_redact_text(bool on);
bool redact_text();
// `text` as it may appear in a log line: itself, or "[redacted N chars]" when redacting.
std::string text(std::string_view text);
// A channel-neutral message for a log line: when redacting, every text a person wrote
// or reads (text, caption, header, titles, descriptions, template parameters) replaced.
nlohmann::json message(const nlohmann::json& message);

void write(Level level, std::string_view event, nlohmann::json fields = nlohmann::json::object());

inline void debug(std::string_view e, nlohmann::json f = nlohmann::json::object()) { write(Level::debug, e, std::move(f)); }
inline void info(std::string_view e, nlohmann::json f = nlohmann::json::object()) { write(Level::info, e, std::move(f)); }
inline void warn(std::string_view e, nlohmann::json f = nlohmann::json::object()) { write(Level::warn, e, std::move(f)); }
inline void error(std::string_view e, nlohmann::json f = nlohmann::json::object()) { write(Level::error, e, std::move(f)); }

}  // namespace charla::log
