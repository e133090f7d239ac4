#include "runtime/event.hpp"

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
  // nlohmann dumps object members sorted by key; this writes them in that order.
  const auto quoted = [](const std::string& s) { return nlohmann::json(s).dump(); };
  const std::string payload_text = payload.dump();
  std::string out;
  out.reserve(payload_text.size() + conversation.size() + name.size() + dedup_id.size() + 160);
  out.append("{\"account\":").append(quoted(account));
  if (attempts) out.append(",\"attempts\":").append(std::to_string(attempts));
  out.append(",\"channel\":").append(quoted(channel));
  out.append(",\"conversation\":").append(quoted(conversation));
  out.append(",\"dedup_id\":").append(quoted(dedup_id));
  out.append(",\"flow\":").append(quoted(flow));
  out.append(",\"kind\":").append(kind == Kind::message ? "\"message\"" : kind == Kind::timer ? "\"timer\"" : "\"enter\"");
  out.append(",\"name\":").append(quoted(name));
  out.append(",\"payload\":").append(payload_text);
  out.append(",\"received_ms\":").append(std::to_string(received_ms));
  out.append(",\"user\":").append(quoted(user));
  out.push_back('}');
  return out;
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
