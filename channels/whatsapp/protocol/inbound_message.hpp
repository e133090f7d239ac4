#pragma once
// The `msg` object a Lua flow receives for one inbound WhatsApp message.
//
// Flows are written against a channel-neutral shape (msg.text, msg.button.id,
// msg.media.id, ...) so a flow designer never digs through Meta's nesting; the
// original object stays available as msg.raw for anything not lifted out.
#include "whatsapp/protocol/webhook_parser.hpp"

#include <nlohmann/json.hpp>

namespace charla::whatsapp {

// Builds msg from the message object and the identity fields already resolved in
// `identity` (id, type, user, wa_id, user_id, profile_name, timestamp).
// Fields of a wrong JSON type are left out rather than rejected.
nlohmann::json flow_message(const nlohmann::json& message, const InboundMessage& identity);
// The same, taking the message over as msg.raw instead of copying it: intake parses
// each webhook once and no longer needs the message after this.
nlohmann::json flow_message(nlohmann::json&& message, const InboundMessage& identity);

}  // namespace charla::whatsapp
