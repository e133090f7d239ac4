#include "runtime/event.hpp"

#include "runtime/json_object_writer.hpp"

namespace charla::runtime {

nlohmann::json InboundEvent::to_json() const {
  nlohmann::json j{{"kind", kind == Kind::message ? "message" : kind == Kind::timer ? "timer" : "enter"},
          {"seq", seq},
          {"conversation", conversation},
          {"channel", channel},
          {"account", account},
          {"user", user},
          {"name", name},
          {"flow", flow},
          {"dedup_id", dedup_id},
          {"payload", payload},
          {"received_ms", received_ms}};
  if (attempts) j["attempts"] = attempts;
  return j;
}

std::string InboundEvent::dump_without_seq() const {
  // Members in nlohmann's (sorted) order; inbox_row_test holds it to to_json().
  const std::string payload_text = payload.dump();
  JsonObjectWriter w(payload_text.size() + conversation.size() + name.size() + dedup_id.size() + 160);
  w.string("account", account);
  if (attempts) w.unsigned_number("attempts", attempts);
  w.string("channel", channel).string("conversation", conversation).string("dedup_id", dedup_id).string("flow", flow);
  w.raw("kind", kind == Kind::message ? "\"message\"" : kind == Kind::timer ? "\"timer\"" : "\"enter\"");
  w.string("name", name).raw("payload", payload_text).number("received_ms", received_ms).string("user", user);
  return std::move(w).finish();
}

InboundEvent InboundEvent::from_json(const nlohmann::json& j) {
  InboundEvent e;
  const auto kind = j.at("kind").get<std::string>();
  e.kind = kind == "timer" ? Kind::timer : kind == "enter" ? Kind::enter : Kind::message;
  e.seq = j.value("seq", std::uint64_t{0});
  e.conversation = j.at("conversation").get<std::string>();
  e.channel = j.value("channel", "");
  e.account = j.value("account", "");
  e.user = j.value("user", "");
  e.name = j.value("name", "");
  e.flow = j.value("flow", "");
  e.dedup_id = j.value("dedup_id", "");
  e.payload = j.value("payload", nlohmann::json::object());
  e.received_ms = j.value("received_ms", std::int64_t{0});
  if (auto it = j.find("attempts"); it != j.end() && it->is_number_unsigned()) e.attempts = it->get<std::uint64_t>();
  e.accepted_at = std::chrono::steady_clock::now();
  return e;
}

std::string conversation_key(std::string_view channel, std::string_view account, std::string_view user) {
  std::string key;
  key.reserve(channel.size() + account.size() + user.size() + 2);
  key.append(channel).append(":").append(account).append(":").append(user);
  return key;
}

}  // namespace charla::runtime
