#include "cli/serve_wiring.hpp"

#include "http/admin_api.hpp"
#include "http/metrics.hpp"
#include "llm/llm_metrics.hpp"
#include "whatsapp/admin_routes.hpp"
#include "whatsapp/outbox_sender.hpp"
#include "whatsapp/webhook_intake.hpp"

namespace charla::cli {

namespace {

struct WhatsAppWiring final : ServeWiring {
  std::unique_ptr<whatsapp::OutboxSender> sender;
  std::unique_ptr<whatsapp::WebhookIntake> intake;
  ~WhatsAppWiring() override {
    if (sender) sender->stop();
  }
};

}  // namespace

std::unique_ptr<ServeWiring> wire_serve(Services& services, http::Server& server) {
  auto w = std::make_unique<WhatsAppWiring>();
  auto& config = services.config.whatsapp;
  w->sender = std::make_unique<whatsapp::OutboxSender>(config, *services.store, *services.engine,
                                                       config.retry_time_scale);
  w->intake = std::make_unique<whatsapp::WebhookIntake>(config, *services.engine, *w->sender);
  services.engine->add_channel(*w->sender);
  w->intake->install(server);
  http::install_admin_routes(server, services.config.admin_token, *services.engine);
  whatsapp::install_admin_routes(server, services.config.admin_token, *services.engine, *w->sender);
  http::install_metrics_route(server, *services.engine, *services.store,
                              {whatsapp::metrics_source(*w->sender, *w->intake),
                               [](std::ostringstream& out) { out << plugins::llm::llm_metrics_prometheus(); }});
  return w;
}

}  // namespace charla::cli
