#include "whatsapp/admin_routes.hpp"

#include "http/admin_api.hpp"

namespace charla::whatsapp {

using nlohmann::json;
using http::Request;
using http::Respond;
using http::Response;

void install_admin_routes(http::Server& server, const std::string& admin_token, runtime::Engine& engine,
                          OutboxSender& sender, const config::WhatsAppConfig& config, const TokenVault& vault) {
  using http::beast_http::verb;
  server.route(verb::get, "/admin/outbox", [admin_token, &engine](Request& req, Respond respond) {
    if (!http::admin_authorized(admin_token, req, respond)) return;
    auto status = req.query.count("status") ? req.query["status"] : std::string();
    std::size_t limit = 100;
    if (req.query.count("limit")) limit = std::clamp<std::size_t>(std::strtoul(req.query["limit"].c_str(), nullptr, 10), 1, 1000);
    json items = json::array();
    auto txn = engine.store().read();
    txn.scan(store::Db::outbox, "", [&](std::string_view k, std::string_view v) {
      auto row = json::parse(v, nullptr, false);
      if (row.is_discarded() || (!status.empty() && row.value("status", "") != status)) return true;
      row["seq"] = store::from_be64(k);
      items.push_back(std::move(row));
      return items.size() < limit;
    });
    respond(Response::json(200, json{{"messages", items}}.dump()));
  });
  server.route(verb::post, "/admin/outbox/*", [admin_token, &sender](Request& req, Respond respond) {
    if (!http::admin_authorized(admin_token, req, respond)) return;
    auto rest = req.path.substr(std::string("/admin/outbox/").size());
    auto slash = rest.find('/');
    if (slash == std::string::npos || rest.substr(slash + 1) != "retry")
      return respond(Response::json(404, R"({"error":"use POST /admin/outbox/{seq}/retry"})"));
    std::uint64_t seq = std::strtoull(rest.substr(0, slash).c_str(), nullptr, 10);
    sender.retry_row(seq, [seq, respond](const std::string& error) {
      if (!error.empty()) return respond(Response::json(404, json{{"error", error}}.dump()));
      respond(Response::json(200, json{{"seq", seq}, {"status", "pending"}}.dump()));
    });
  });
  server.route(verb::post, "/admin/whatsapp/*", [admin_token, &config, &vault, &engine, &sender](Request& req,
                                                                                                 Respond respond) {
    if (!http::admin_authorized(admin_token, req, respond)) return;
    auto rest = req.path.substr(std::string("/admin/whatsapp/").size());
    auto slash = rest.find('/');
    auto body = json::parse(req.body, nullptr, false);
    if (slash == std::string::npos || rest.substr(slash + 1) != "token" || !body.is_object() ||
        !body.contains("token") || !body["token"].is_string() || body["token"].get<std::string>().empty())
      return respond(Response::json(400, R"({"error":"use POST /admin/whatsapp/{phone_number_id}/token with {\"token\":\"...\"}"})"));
    auto id = rest.substr(0, slash);
    if (!config.find(id))
      return respond(Response::json(404, json{{"error", "no configured WhatsApp number has phone_number_id " + id}}.dump(
                                             -1, ' ', true, json::error_handler_t::replace)));
    // A token kept only in memory would be lost at the next restart while the
    // environment still holds the old one: refuse rather than pretend.
    if (!vault.enabled())
      return respond(Response::json(409, R"({"error":"CHARLA_SECRET_KEY is not set, so a replaced token cannot be kept across restarts. Set CHARLA_SECRET_KEY (64 hex characters, e.g. openssl rand -hex 32) and restart, or put the new token in the number's token environment variable and restart"})"));
    auto token = body["token"].get<std::string>();
    auto sealed = vault.seal(id, token);
    engine.store().submit(
        [id, sealed](store::WriteTxn& txn) { txn.put(store::Db::meta, TokenVault::meta_key(id), sealed); },
        [id, token, respond, &sender](const std::string& error) {
          if (!error.empty())
            return respond(Response::json(500, json{{"error", "could not store the token: " + error}}.dump(
                                                   -1, ' ', true, json::error_handler_t::replace)));
          sender.replace_token(id, token);
          respond(Response::json(200, json{{"phone_number_id", id}, {"token_replaced", true}, {"persisted", true}}.dump()));
        });
  });
}

http::MetricsSource metrics_source(const OutboxSender& sender, const WebhookIntake& intake) {
  return [&sender, &intake](std::ostringstream& out) {
    const auto& s = sender.metrics();
    http::write_counter(out, "charla_whatsapp_sent_total", "Messages accepted by the Graph API", s.sent);
    http::write_counter(out, "charla_whatsapp_sink_total", "Messages logged instead of sent (no token)", s.sink);
    http::write_counter(out, "charla_whatsapp_retries_total", "Send attempts scheduled again", s.retries);
    http::write_counter(out, "charla_whatsapp_resends_total",
                        "Sends repeated after a timeout or lost connection: possible duplicates", s.resends);
    http::write_gauge(out, "charla_whatsapp_in_flight", "Graph API requests in flight",
                      static_cast<double>(s.in_flight.load()));
    http::write_counter(out, "charla_whatsapp_failed_total", "Messages that cannot be delivered", s.failed);
    http::write_counter(out, "charla_whatsapp_dead_letters_total", "Messages dead-lettered after max attempts", s.dead);
    http::write_counter(out, "charla_whatsapp_window_template_total", "Closed-window sends replaced by the template", s.window_fallbacks);
    http::write_counter(out, "charla_whatsapp_token_pauses_total", "Times a number was paused by an invalid token", s.token_pauses);
    http::write_counter(out, "charla_whatsapp_statuses_total", "Status webhooks applied", s.statuses);
    http::write_counter(out, "charla_whatsapp_orphan_statuses_total", "Status webhooks for unknown messages", s.orphan_statuses);
    http::write_counter(out, "charla_whatsapp_sender_loop_exceptions_total", "Exceptions that reached the sender's loop (logged)", s.loop_exceptions);
    const auto& i = intake.metrics();
    http::write_counter(out, "charla_webhook_posts_total", "Webhook POSTs received", i.posts);
    http::write_counter(out, "charla_webhook_bad_signature_total", "Webhook POSTs refused for their signature", i.bad_signature);
    http::write_counter(out, "charla_webhook_bad_json_total", "Webhook POSTs refused as invalid JSON", i.bad_json);
    http::write_counter(out, "charla_webhook_messages_total", "Messages read from webhooks", i.messages);
  };
}

}  // namespace charla::whatsapp
