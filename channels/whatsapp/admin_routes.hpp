#pragma once
// WhatsApp-specific admin endpoints (same bearer token as /admin):
//   GET  /admin/outbox?status=dead|failed|pending|...&limit=N   messages in the outbox
//   POST /admin/outbox/{seq}/retry                              re-send a dead, failed or sink message
//   POST /admin/whatsapp/{phone_number_id}/token  {"token":..}  replace a token, resume sending;
//        kept sealed in the store (needs CHARLA_SECRET_KEY, else 409); unknown number: 404
// and the Prometheus lines of the sender and the webhook intake.
#include "http/metrics.hpp"
#include "http/server.hpp"
#include "runtime/engine.hpp"
#include "whatsapp/outbox_sender.hpp"
#include "whatsapp/token_vault.hpp"
#include "whatsapp/webhook_intake.hpp"

namespace charla::whatsapp {

void install_admin_routes(http::Server& server, const std::string& admin_token, runtime::Engine& engine,
                          OutboxSender& sender, const config::WhatsAppConfig& config, const TokenVault& vault);

http::MetricsSource metrics_source(const OutboxSender& sender, const WebhookIntake& intake);

}  // namespace charla::whatsapp
