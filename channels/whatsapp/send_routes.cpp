#include "whatsapp/send_routes.hpp"

#include "http/admin_api.hpp"
#include "log/log.hpp"

namespace charla::whatsapp {

using nlohmann::json;
using http::Request;
using http::Respond;
using http::Response;

namespace {

Response json_response(unsigned status, const json& body) {
  return Response::json(status, body.dump(-1, ' ', false, json::error_handler_t::replace));
}

using Parser = ParsedSend (*)(const json&);

// Reads the body with `parse`, sends, answers; `compat` shapes the answer as the
// replaced systems did ({"success": ..., "message_id"}).
void handle_send(AgentSend& agent_send, Parser parse, bool compat, Request& req, Respond respond) {
  auto answer = [compat, respond](SendOutcome outcome) {
    if (compat) {
      outcome.body["success"] = outcome.status == 200;
      if (outcome.body.contains("id")) outcome.body["message_id"] = outcome.body["id"];
    }
    respond(json_response(outcome.status, outcome.body));
  };
  auto body = json::parse(req.body, nullptr, false);
  if (body.is_discarded())
    return answer({400, {{"error", "bad_request"}, {"message", "the body is not valid JSON"}}});
  auto parsed = parse(body);
  if (auto* why = std::get_if<std::string>(&parsed)) return answer({400, {{"error", "bad_request"}, {"message", *why}}});
  auto request = std::get<SendRequest>(std::move(parsed));
  request.idempotency_key = req.header("Idempotency-Key");
  agent_send.send(std::move(request), answer);
}

}  // namespace

void install_send_routes(http::Server& server, const std::string& admin_token, runtime::Engine& engine,
                         AgentSend& agent_send, const config::WhatsAppConfig& config, const OutboxSender& sender) {
  using http::beast_http::verb;
  // Any exception a handler lets out becomes a 500 naming it; the server's loop never sees it.
  auto guarded = [admin_token](auto handler) {
    return [admin_token, handler](Request& req, Respond respond) {
      if (!http::admin_authorized(admin_token, req, respond)) return;
      try {
        handler(req, respond);
      } catch (const std::exception& e) {
        log::error("admin_request_failed", {{"path", req.path}, {"error", e.what()}});
        respond(json_response(500, {{"error", "internal"}, {"message", e.what()}}));
      }
    };
  };
  auto sending = [&](Parser parse, bool compat) {
    return guarded([&agent_send, parse, compat](Request& req, Respond respond) {
      handle_send(agent_send, parse, compat, req, std::move(respond));
    });
  };
  server.route(verb::post, "/admin/send", sending(parse_admin_send, false));
  server.route(verb::post, "/admin/send-interactive", sending(parse_admin_send_interactive, false));
  server.route(verb::post, "/whatsapp/send", sending(parse_compat_send, true));
  server.route(verb::post, "/whatsapp/send-interactive", sending(parse_compat_send_interactive, true));
  server.route(verb::post, "/api/integrations/whatsapp/send", sending(parse_integrations_send, true));

  server.route(verb::get, "/admin/outbox/*", guarded([&engine](Request& req, Respond respond) {
    const auto id = req.path.substr(std::string("/admin/outbox/").size());
    char* end = nullptr;
    const auto seq = std::strtoull(id.c_str(), &end, 10);
    if (id.empty() || *end != '\0' || seq == 0)
      return respond(json_response(400, {{"error", "bad_request"}, {"message", "an outbox id is a positive number"}}));
    std::optional<std::string> raw;
    {
      auto txn = engine.store().read();
      raw = txn.get(store::Db::outbox, store::be64(seq));
    }
    if (!raw) return respond(json_response(404, {{"error", "not_found"}, {"message", "no outbox message " + id}}));
    auto row = json::parse(*raw, nullptr, false);
    if (!row.is_object())
      return respond(json_response(200, {{"id", seq}, {"corrupt", true}, {"message", "stored row unreadable"}}));
    row["id"] = seq;
    respond(json_response(200, row));
  }));

  server.route(verb::get, "/whatsapp/status", guarded([&config, &sender, &engine](Request&, Respond respond) {
    json numbers = json::array();
    for (auto& n : config.numbers)
      numbers.push_back({{"phone_number_id", n.phone_number_id}, {"flow", n.flow}, {"paused", sender.paused(n.phone_number_id)}});
    const auto& m = sender.metrics();
    json out{{"status", engine.running() ? "ok" : "stopped"},
             {"configured", !config.numbers.empty()},
             {"sink", config.sink_mode()},
             {"api_version", config.api_version},
             {"webhook_verify_token_configured", !config.verify_token.empty()},
             {"numbers", numbers},
             {"sent", m.sent.load()},
             {"failed", m.failed.load()},
             {"dead_letters", m.dead.load()}};
    respond(json_response(200, out));
  }));
}

}  // namespace charla::whatsapp
