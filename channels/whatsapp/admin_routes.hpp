#pragma once
// WhatsApp-specific admin endpoints (same bearer token as /admin):
//   GET  /admin/outbox?status=dead|failed|pending|...&limit=N   messages in the outbox
//   POST /admin/outbox/{seq}/retry                              re-send a dead or failed message
//   POST /admin/whatsapp/{phone_number_id}/token  {"token":..}  replace a token, resume sending
// and the Prometheus lines of the sender and the webhook intake.
#include "http/metrics.hpp"
#include "http/server.hpp"
#include "runtime/engine.hpp"
#include "whatsapp/outbox_sender.hpp"
#include "whatsapp/webhook_intake.hpp"

namespace charla::whatsapp {

void install_admin_routes(http::Server& server, const std::string& admin_token, runtime::Engine& engine,
                          OutboxSender& sender);

http::MetricsSource metrics_source(const OutboxSender& sender, const WebhookIntake& intake);

}  // namespace charla::whatsapp
