#include "runtime/conversation.hpp"

#include "runtime/json_object_writer.hpp"
#include "store/store.hpp"

namespace charla::runtime {

nlohmann::json Conversation::to_json() const {
  nlohmann::json j{{"channel", channel}, {"account", account}, {"user", user}, {"name", name},
          {"flow", flow}, {"flow_version", flow_version}, {"state", state}, {"data", data},
          {"paused", paused}, {"handoff_reason", handoff_reason}, {"last_inbound_ms", last_inbound_ms},
          {"created_ms", created_ms}, {"updated_ms", updated_ms}, {"timers", timers},
          {"history_first", history_first}, {"history_next", history_next}, {"turns", turns},
          {"errors", errors}};
  // Written only when set, so records without a handoff keep their old bytes.
  if (paused_ms) j["paused_ms"] = paused_ms;
  if (!held_timers.empty()) j["held_timers"] = held_timers;
  return j;
}

std::string Conversation::dump() const {
  // Members in nlohmann's (sorted) order; conversation_dump_test holds it to to_json().
  JsonObjectWriter w(512);
  w.string("account", account).string("channel", channel).number("created_ms", created_ms).value("data", data);
  w.unsigned_number("errors", errors).string("flow", flow).number("flow_version", flow_version);
  w.string("handoff_reason", handoff_reason);
  if (!held_timers.empty()) w.value("held_timers", held_timers);
  w.unsigned_number("history_first", history_first).unsigned_number("history_next", history_next);
  w.number("last_inbound_ms", last_inbound_ms).string("name", name).boolean("paused", paused);
  if (paused_ms) w.number("paused_ms", paused_ms);
  w.string("state", state);
  if (timers.empty()) {
    w.raw("timers", "{}");
  } else {
    std::string text = "{";
    for (const auto& [name, due] : timers) {
      if (text.size() > 1) text.push_back(',');
      JsonObjectWriter::append_string(text, name);
      text.push_back(':');
      text.append(std::to_string(due));
    }
    text.push_back('}');
    w.raw("timers", text);
  }
  w.unsigned_number("turns", turns).number("updated_ms", updated_ms).string("user", user);
  return std::move(w).finish();
}

Conversation Conversation::from_json(std::string key, const nlohmann::json& j) {
  Conversation c;
  c.key = std::move(key);
  c.channel = j.value("channel", "");
  c.account = j.value("account", "");
  c.user = j.value("user", "");
  c.name = j.value("name", "");
  c.flow = j.value("flow", "");
  c.flow_version = j.value("flow_version", std::int64_t{0});
  c.state = j.value("state", "");
  c.data = j.value("data", nlohmann::json::object());
  c.paused = j.value("paused", false);
  c.handoff_reason = j.value("handoff_reason", "");
  c.paused_ms = j.value("paused_ms", std::int64_t{0});
  c.held_timers = j.value("held_timers", std::map<std::string, nlohmann::json>{});
  c.last_inbound_ms = j.value("last_inbound_ms", std::int64_t{0});
  c.created_ms = j.value("created_ms", std::int64_t{0});
  c.updated_ms = j.value("updated_ms", std::int64_t{0});
  c.timers = j.value("timers", std::map<std::string, std::int64_t>{});
  c.history_first = j.value("history_first", std::uint64_t{1});
  c.history_next = j.value("history_next", std::uint64_t{1});
  c.turns = j.value("turns", std::uint64_t{0});
  c.errors = j.value("errors", std::uint64_t{0});
  return c;
}

std::string history_prefix(std::string_view conversation) {
  std::string k(conversation);
  k.push_back('\0');
  return k;
}

std::string history_key(std::string_view conversation, std::uint64_t seq) {
  return history_prefix(conversation) + store::be64(seq);
}

std::string timer_key(std::int64_t due_ms, std::string_view conversation, std::string_view name) {
  std::string k = store::be64(static_cast<std::uint64_t>(due_ms));
  k.append(conversation).push_back('\0');
  k.append(name);
  return k;
}

bool parse_timer_key(std::string_view key, TimerKey& out) {
  if (key.size() < 10) return false;
  auto sep = key.find('\0', 8);
  if (sep == std::string_view::npos) return false;
  out.due_ms = static_cast<std::int64_t>(store::from_be64(key.substr(0, 8)));
  out.conversation = std::string(key.substr(8, sep - 8));
  out.name = std::string(key.substr(sep + 1));
  return true;
}

}  // namespace charla::runtime
