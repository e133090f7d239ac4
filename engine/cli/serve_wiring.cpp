#include "cli/serve_wiring.hpp"

#include "events/event_routes.hpp"
#include "http/admin_api.hpp"
#include "http/metrics.hpp"
#include "llm/llm_metrics.hpp"
#include "log/log.hpp"
#include "whatsapp/admin_routes.hpp"
#include "whatsapp/outbox_sender.hpp"
#include "whatsapp/token_vault.hpp"
#include "whatsapp/webhook_intake.hpp"

#include <cstdlib>

namespace charla::cli {

namespace {

struct WhatsAppWiring final : ServeWiring {
  std::unique_ptr<whatsapp::TokenVault> vault;
  std::unique_ptr<whatsapp::OutboxSender> sender;
  std::unique_ptr<whatsapp::WebhookIntake> intake;
  std::unique_ptr<events::EventSender> events;  // null when no event webhook is configured
  ~WhatsAppWiring() override {
    if (sender) sender->stop();
    if (events) events->stop();
  }
};

// Tokens replaced through the admin API win over the environment's, which still
// holds the old one. One that cannot be opened is reported and the environment's used:
// an invalid token pauses the number (nothing lost), it never turns replies into sinks.
void load_stored_tokens(config::WhatsAppConfig& wa, const store::Store& store, const whatsapp::TokenVault& vault) {
  auto txn = store.read();
  for (auto& n : wa.numbers) {
    auto sealed = txn.get(store::Db::meta, whatsapp::TokenVault::meta_key(n.phone_number_id));
    if (!sealed) continue;
    if (auto token = vault.open(n.phone_number_id, *sealed)) {
      n.token = *token;
      log::info("whatsapp_token_from_store", {{"phone_number_id", n.phone_number_id}});
      continue;
    }
    log::error("whatsapp_stored_token_unreadable",
               {{"phone_number_id", n.phone_number_id},
                {"why", vault.enabled() ? "CHARLA_SECRET_KEY is not the key it was stored with"
                                        : "CHARLA_SECRET_KEY is not set"},
                {"using", n.token.empty() ? "no token" : "the token from the environment"}});
  }
}

// A number that names its token variable but finds it unset sends with the shared
// WHATSAPP_API_TOKEN: say so, a misspelled name should not pass unnoticed.
void warn_token_fallbacks(const config::WhatsAppConfig& wa) {
  for (auto& n : wa.numbers)
    if (!n.token_env.empty() && !n.token.empty() && !std::getenv(n.token_env.c_str()))
      log::warn("whatsapp_token_fallback", {{"phone_number_id", n.phone_number_id}, {"token_env", n.token_env},
                                            {"using", "WHATSAPP_API_TOKEN (or a token replaced through the admin API)"}});
}

std::string sink_warning(const config::WhatsAppConfig& wa) {
  if (!wa.sink_mode()) return "";
  return wa.sink ? "sink mode (whatsapp.sink / WHATSAPP_SINK): replies are stored and logged, never sent"
                 : "sink mode: no WhatsApp number is configured, so replies are stored and logged, never sent";
}

}  // namespace

std::unique_ptr<ServeWiring> wire_serve(Services& services, http::Server& server) {
  auto w = std::make_unique<WhatsAppWiring>();
  auto& config = services.config.whatsapp;
  // Flows load in Engine::start(): the check runs there, before any turn.
  services.engine->add_flow_check(
      [&config](const std::vector<std::string>& loaded) { config::check_number_flows(config, loaded); });
  w->vault = std::make_unique<whatsapp::TokenVault>(services.config.secret_key_hex);
  load_stored_tokens(config, *services.store, *w->vault);
  config::check_tokens(config);
  warn_token_fallbacks(config);
  const auto warning = sink_warning(config);
  if (!warning.empty()) log::warn("whatsapp_sink_mode", {{"why", warning}});
  w->sender = std::make_unique<whatsapp::OutboxSender>(config, *services.store, *services.engine,
                                                       config.retry_time_scale);
  w->intake = std::make_unique<whatsapp::WebhookIntake>(config, *services.engine, *w->sender);
  services.engine->add_channel(*w->sender);
  w->intake->install(server);
  const bool sink = config.sink_mode();
  http::install_admin_routes(server, services.config.admin_token, *services.engine,
                             {[sink, warning](nlohmann::json& status) {
                               status["whatsapp"] = {{"sink", sink}};
                               if (!warning.empty()) status["whatsapp"]["warning"] = warning;
                             }});
  whatsapp::install_admin_routes(server, services.config.admin_token, *services.engine, *w->sender, config,
                                 *w->vault);
  std::vector<http::MetricsSource> metrics{whatsapp::metrics_source(*w->sender, *w->intake),
                                           [](std::ostringstream& out) { out << plugins::llm::llm_metrics_prometheus(); }};
  if (!services.config.events.webhooks.empty()) {  // events: engine/events/event_sender.hpp
    w->events = std::make_unique<events::EventSender>(services.config.events, *services.store, *services.engine);
    services.engine->add_turn_observer([sender = w->events.get()](const runtime::TurnReport&) { sender->nudge(); });
    events::install_admin_routes(server, services.config.admin_token, *services.store, *w->events);
    metrics.push_back(events::metrics_source(*w->events));
  }
  http::install_metrics_route(server, *services.engine, *services.store, std::move(metrics));
  return w;
}

}  // namespace charla::cli
