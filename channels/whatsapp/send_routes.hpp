#pragma once
// HTTP routes that send messages to customers (bearer token CHARLA_ADMIN_TOKEN):
//   POST /admin/send                  text, template or media by link (send_request.hpp)
//   POST /admin/send-interactive      reply buttons or a list
//   GET  /admin/outbox/{id}           one outbox row: the status_url of a send
// and the compatibility routes of the systems charla replaces, same token:
//   POST /whatsapp/send, POST /whatsapp/send-interactive, GET /whatsapp/status,
//   POST /api/integrations/whatsapp/send
// A send answers 200 {"id", "status": "queued", "status_url", "conversation"} (the
// compatibility routes add "success": true and "message_id"); 400 says what is wrong with
// the body; 409 {"error": "window_closed"} outside the 24 h window; 409
// {"error": "ambiguous_recipient", "candidates"} for a phone on several numbers.
// An Idempotency-Key header makes a repeated request return the first result.
#include "http/server.hpp"
#include "runtime/engine.hpp"
#include "whatsapp/agent_send.hpp"

namespace charla::whatsapp {

void install_send_routes(http::Server& server, const std::string& admin_token, runtime::Engine& engine,
                         AgentSend& agent_send, const config::WhatsAppConfig& config, const OutboxSender& sender);

}  // namespace charla::whatsapp
