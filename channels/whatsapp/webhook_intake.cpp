#include "whatsapp/webhook_intake.hpp"

#include "log/log.hpp"
#include "whatsapp/protocol/signature.hpp"
#include "whatsapp/protocol/webhook_parser.hpp"

#include <algorithm>

namespace charla::whatsapp {

using nlohmann::json;

WebhookIntake::WebhookIntake(const config::WhatsAppConfig& config, runtime::Engine& engine, OutboxSender& sender)
    : config_(config), engine_(engine), sender_(sender) {
  // Numbers may belong to different Meta apps: a body is authentic when signed by one
  // of the configured app secrets, and then accepted only for that app's numbers.
  auto add = [&](const std::string& s) {
    if (!s.empty() && std::find(secrets_.begin(), secrets_.end(), s) == secrets_.end()) secrets_.push_back(s);
  };
  add(config.app_secret);
  for (auto& n : config.numbers) add(n.app_secret);
  if (config.insecure_skip_signature)
    log::warn("webhook_signature_check_disabled",
              {{"why", "whatsapp.insecure_skip_signature is true: anyone who can reach this port can inject messages"}});
  else if (secrets_.empty())
    log::warn("webhook_no_app_secret", {{"why", "WHATSAPP_APP_SECRET is not set: every webhook POST will get 401"}});
}

void WebhookIntake::install(http::Server& server) {
  // The last two are the paths of systems charla replaces: their Meta apps keep working.
  for (const char* path : {"/webhook/whatsapp", "/webhook", "/whatsapp/webhook", "/api/integrations/whatsapp/webhook",
                           "/api/webhooks/whatsapp"}) {
    server.route(http::beast_http::verb::get, path,
                 [this](http::Request& req, http::Respond respond) { verify(req, std::move(respond)); });
    server.route(http::beast_http::verb::post, path,
                 [this](http::Request& req, http::Respond respond) { notify(req, std::move(respond)); });
  }
}

void WebhookIntake::verify(http::Request& req, http::Respond respond) const {
  auto get = [&](const char* k) {
    auto it = req.query.find(k);
    return it == req.query.end() ? std::string() : it->second;
  };
  // Meta always sends all three; anything else is not a verification request, and a
  // 200 with an empty body would make a misconfigured proxy look verified.
  std::string missing;
  for (const char* k : {"hub.mode", "hub.verify_token", "hub.challenge"})
    if (get(k).empty()) missing += (missing.empty() ? "" : ", ") + std::string(k);
  if (!missing.empty()) {
    log::warn("webhook_verification_malformed", {{"missing", missing}});
    return respond(http::Response::text(
        400, "malformed verification request: missing or empty " + missing +
                 " (expected hub.mode=subscribe, hub.verify_token and hub.challenge)"));
  }
  if (get("hub.mode") != "subscribe") {
    log::warn("webhook_verification_malformed", {{"why", "hub.mode is not subscribe"}});
    return respond(http::Response::text(400, "malformed verification request: hub.mode must be \"subscribe\""));
  }
  if (config_.verify_token.empty() || get("hub.verify_token") != config_.verify_token) {
    log::warn("webhook_verification_refused", {{"verify_token_configured", !config_.verify_token.empty()}});
    return respond(http::Response::text(
        403, config_.verify_token.empty() ? "verification refused: WHATSAPP_VERIFY_TOKEN is not configured"
                                          : "verification refused: hub.verify_token does not match"));
  }
  log::info("webhook_verified");
  respond(http::Response::text(200, get("hub.challenge")));
}

std::vector<std::string> WebhookIntake::matching_secrets(const http::Request& req) const {
  std::vector<std::string> matching;
  auto header = req.header("X-Hub-Signature-256");
  for (auto& secret : secrets_)
    if (verify_signature(req.body, header, secret)) matching.push_back(secret);
  return matching;
}

// The secret a body addressed to `phone_number_id` must be signed with: its number's
// own, else the default. nullptr for a number that is not configured (when some are):
// its items are dropped, so any of our apps may mention it without a 403 that Meta
// would redeliver forever.
const std::string* WebhookIntake::secret_for(const std::string& phone_number_id) const {
  const auto* number = config_.find(phone_number_id);
  if (!number && !config_.numbers.empty()) return nullptr;
  return number && !number->app_secret.empty() ? &number->app_secret : &config_.app_secret;
}

std::string WebhookIntake::foreign_number(const WebhookBatch& batch, const std::vector<std::string>& matching) const {
  auto signed_for = [&](const std::string& id) {
    const auto* secret = secret_for(id);
    return !secret || std::find(matching.begin(), matching.end(), *secret) != matching.end();
  };
  for (auto& m : batch.messages)
    if (!signed_for(m.phone_number_id)) return m.phone_number_id;
  for (auto& s : batch.statuses)
    if (!signed_for(s.phone_number_id)) return s.phone_number_id;
  for (auto& e : batch.errors)
    if (!e.phone_number_id.empty() && !signed_for(e.phone_number_id)) return e.phone_number_id;
  return {};
}

void WebhookIntake::notify(http::Request& req, http::Respond respond) {
  ++metrics_.posts;
  std::vector<std::string> matching;
  if (!config_.insecure_skip_signature) {
    matching = matching_secrets(req);
    if (matching.empty()) {
      ++metrics_.bad_signature;
      log::warn("webhook_bad_signature", {{"header_present", !req.header("X-Hub-Signature-256").empty()}});
      return respond(http::Response::json(401, R"({"error":"invalid or missing X-Hub-Signature-256"})"));
    }
  }
  auto parsed = parse_webhook(req.body);
  if (!parsed.ok) {
    ++metrics_.bad_json;
    // The parser's explanation may quote the offending bytes (a raw 0xFF): never let
    // them reach the JSON encoder unescaped.
    return respond(http::Response::json(400, json{{"error", "body is not valid JSON: " + parsed.error}}.dump(
                                                 -1, ' ', true, json::error_handler_t::replace)));
  }
  // Numbers may belong to different Meta apps: the signature must be the app secret
  // of every number the body addresses, so one app cannot speak for another's numbers.
  if (!config_.insecure_skip_signature) {
    if (auto foreign = foreign_number(parsed.batch, matching); !foreign.empty()) {
      ++metrics_.bad_signature;
      log::warn("webhook_signature_wrong_app", {{"phone_number_id", foreign}});
      return respond(http::Response::json(
          403, json{{"error", "X-Hub-Signature-256 is not signed with the app secret of phone_number_id " + foreign +
                                  " (one body may only address numbers of the app that signed it)"}}
                   .dump(-1, ' ', true, json::error_handler_t::replace)));
    }
  }
  auto& batch = parsed.batch;
  for (auto& w : batch.warnings) log::warn("webhook_item_skipped", {{"detail", w}});
  for (auto& f : batch.ignored) {
    ++metrics_.ignored_changes;
    log::info("webhook_change_ignored", {{"field", f}});
  }
  for (auto& e : batch.errors) {
    ++metrics_.value_errors;
    log::error("whatsapp_value_error", {{"phone_number_id", e.phone_number_id}, {"error", e.error}});
  }

  std::vector<runtime::InboundEvent> events;
  for (auto& m : batch.messages) {
    const auto* number = config_.find(m.phone_number_id);
    if (!number && !config_.numbers.empty()) {
      ++metrics_.unknown_number;
      log::warn("webhook_unknown_number", {{"phone_number_id", m.phone_number_id}, {"id", m.id}});
      continue;
    }
    runtime::InboundEvent e;
    e.channel = "whatsapp";
    e.account = m.phone_number_id;
    e.user = m.user;
    e.conversation = conversation_key(m.phone_number_id, m.user);
    e.name = m.profile_name;
    e.flow = number ? number->flow : "";
    e.dedup_id = m.id;
    e.payload = std::move(m.msg);
    e.payload["timestamp"] = m.timestamp;
    e.accepted_at = std::chrono::steady_clock::now();
    events.push_back(std::move(e));
  }
  // Meta does not guarantee order: within one body, a user's messages run in
  // timestamp order, ties in body order.
  std::stable_sort(events.begin(), events.end(), [](const auto& a, const auto& b) {
    return a.payload.value("timestamp", std::int64_t{0}) < b.payload.value("timestamp", std::int64_t{0});
  });
  metrics_.messages += events.size();

  // Answer once every part of the batch is durable.
  struct Join {
    std::atomic<int> pending{1};
    std::atomic<bool> failed{false};
    http::Respond respond;
    void done(const std::string& error) {
      if (!error.empty()) failed = true;
      if (--pending == 0)
        respond(failed ? http::Response::json(500, R"({"error":"could not store the notification; retry"})")
                       : http::Response::json(200, R"({"status":"ok"})"));
    }
  };
  auto join = std::make_shared<Join>();
  join->respond = std::move(respond);
  // Statuses of numbers that are not ours are dropped like their messages: they were
  // not checked against any number's app secret, so they must not touch the outbox.
  std::erase_if(batch.statuses, [&](const StatusUpdate& s) {
    if (config_.find(s.phone_number_id) || config_.numbers.empty()) return false;
    ++metrics_.unknown_number;
    log::warn("webhook_unknown_number", {{"phone_number_id", s.phone_number_id}, {"status_for", s.wamid}});
    return true;
  });
  join->pending += static_cast<int>(batch.statuses.size());
  for (auto& s : batch.statuses)
    sender_.apply_status(s.wamid, s.status, s.timestamp, s.errors, [join](const std::string& e) { join->done(e); });
  if (events.empty()) return join->done("");
  engine_.accept(std::move(events), [join](const runtime::AcceptResult& r) { join->done(r.error); });
}

}  // namespace charla::whatsapp
