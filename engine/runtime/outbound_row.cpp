#include "runtime/channel.hpp"
#include "runtime/json_object_writer.hpp"

namespace charla::runtime {

nlohmann::json OutboundRow::to_json() const {
  return {{"conversation", conversation}, {"channel", channel}, {"account", account}, {"to", to},
          {"message", message}, {"status", "pending"}, {"attempts", attempts}, {"created_ms", created_ms},
          {"next_attempt_ms", created_ms}};
}

std::string OutboundRow::dump() const {
  // Members in nlohmann's (sorted) order; record_dump_test holds it to to_json().
  JsonObjectWriter w(256);
  w.string("account", account).number("attempts", attempts).string("channel", channel);
  w.string("conversation", conversation).number("created_ms", created_ms).value("message", message);
  w.number("next_attempt_ms", created_ms).raw("status", "\"pending\"").string("to", to);
  return std::move(w).finish();
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
