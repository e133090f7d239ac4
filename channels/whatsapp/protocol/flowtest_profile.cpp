#include "whatsapp/protocol/flowtest_profile.hpp"

#include "whatsapp/protocol/inbound_message.hpp"
#include "whatsapp/protocol/message_builder.hpp"

namespace charla::whatsapp {

flowtest::ChannelProfile flowtest_profile() {
  flowtest::ChannelProfile p;
  p.channel = "whatsapp";
  p.flow_message = [](const nlohmann::json& message, const flowtest::InboundIdentity& id) {
    InboundMessage identity;
    identity.phone_number_id = "test";
    identity.user = id.user;
    identity.wa_id = id.user;
    identity.profile_name = id.profile_name;
    identity.id = id.id;
    identity.type = message.value("type", "");
    identity.timestamp = id.timestamp;
    return flow_message(message, identity);
  };
  p.validate = [](const nlohmann::json& message) { return validate(message); };
  return p;
}

}  // namespace charla::whatsapp
