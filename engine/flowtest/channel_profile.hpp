#pragma once
// What `charla test` borrows from the channel a flow will run on: how an inbound
// message object becomes the flow's `msg`, and which outbound messages the channel
// would refuse. The engine never includes a channel (STYLE.md), so the CLI, which
// wires channels in, hands the WhatsApp versions to the runner; a flow then sees the
// same `msg` and the same limits in a test as in `serve`.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace charla::flowtest {

struct InboundIdentity {
  std::string id;            // message id (wamid)
  std::string user;          // the customer's phone
  std::string profile_name;  // may be empty
  std::int64_t timestamp = 0;  // Unix seconds
};

struct ChannelProfile {
  std::string channel = "whatsapp";  // conversation channel name the flow sees
  // The message object in the channel's wire format ({"type":"text","text":{"body":..}})
  // -> the flow's msg table.
  std::function<nlohmann::json(const nlohmann::json& message, const InboundIdentity& identity)> flow_message;
  // nullopt when the channel would send `message`; otherwise why it would be refused.
  std::function<std::optional<std::string>(const nlohmann::json& message)> validate;
};

}  // namespace charla::flowtest
