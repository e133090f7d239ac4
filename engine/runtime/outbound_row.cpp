#include "runtime/channel.hpp"

namespace charla::runtime {

nlohmann::json OutboundRow::to_json() const {
  return {{"conversation", conversation}, {"channel", channel}, {"account", account}, {"to", to},
          {"message", message}, {"status", "pending"}, {"attempts", attempts}, {"created_ms", created_ms},
          {"next_attempt_ms", created_ms}};
}

OutboundRow OutboundRow::from_json(std::uint64_t seq, const nlohmann::json& j) {
  OutboundRow r;
  r.seq = seq;
  r.conversation = j.value("conversation", "");
  r.channel = j.value("channel", "");
  r.account = j.value("account", "");
  r.to = j.value("to", "");
  r.message = j.value("message", nlohmann::json::object());
  r.attempts = j.value("attempts", 0);
  r.created_ms = j.value("created_ms", std::int64_t{0});
  r.dispatched = j.contains("dispatched_ms") && !j["dispatched_ms"].is_null();
  return r;
}

}  // namespace charla::runtime
