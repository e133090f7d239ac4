#pragma once
// WhatsApp Cloud API webhooks in: verification (GET) and notifications (POST).
// A POST is answered 200 only after its messages are durable in the inbox (and its
// statuses applied), so Meta redelivers anything charla did not keep. Redelivered
// message ids are acknowledged and ignored by the engine's dedup.
#include "config/config.hpp"
#include "http/server.hpp"
#include "runtime/engine.hpp"
#include "whatsapp/outbox_sender.hpp"
#include "whatsapp/protocol/webhook_parser.hpp"

#include <atomic>

namespace charla::whatsapp {

struct IntakeMetrics {
  std::atomic<std::uint64_t> posts{0}, bad_signature{0}, bad_json{0}, messages{0}, unknown_number{0},
      ignored_changes{0}, value_errors{0};
};

class WebhookIntake {
 public:
  WebhookIntake(const config::WhatsAppConfig& config, runtime::Engine& engine, OutboxSender& sender);
  // GET/POST on /webhook/whatsapp and its aliases /webhook, /whatsapp/webhook,
  // /api/integrations/whatsapp/webhook and /api/webhooks/whatsapp.
  void install(http::Server& server);
  const IntakeMetrics& metrics() const { return metrics_; }

 private:
  void verify(http::Request& req, http::Respond respond) const;
  void notify(http::Request& req, http::Respond respond);
  // The configured app secrets the body's X-Hub-Signature-256 verifies with.
  std::vector<std::string> matching_secrets(const http::Request& req) const;
  const std::string* secret_for(const std::string& phone_number_id) const;
  // The first number the batch addresses whose app secret is not among `matching`.
  std::string foreign_number(const WebhookBatch& batch, const std::vector<std::string>& matching) const;

  const config::WhatsAppConfig& config_;
  runtime::Engine& engine_;
  OutboxSender& sender_;
  std::vector<std::string> secrets_;
  IntakeMetrics metrics_;
};

}  // namespace charla::whatsapp
