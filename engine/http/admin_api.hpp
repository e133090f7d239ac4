#pragma once
// The admin API under /admin (bearer token CHARLA_ADMIN_TOKEN): status, conversations
// (list with filters and cursor, detail with history, reset, set state, pause and
// resume for human handoff), plus the seed-compatible aliases under /webhook.
// Changes to a conversation run on its worker between turns, so they never race a turn.
#include "http/server.hpp"
#include "runtime/engine.hpp"

#include <functional>
#include <string>
#include <vector>

namespace charla::http {

// True when the request carries the admin token; otherwise responds 401 and returns false.
bool admin_authorized(const std::string& token, const Request& req, const Respond& respond);

// A path's conversation key: a full key as given, or a bare phone resolved to the one
// conversation whose user it is. Several matches: `candidates` lists them all and the
// route answers 409 (acting on one would pick a customer at random).
struct ResolvedKey {
  std::string key;
  std::vector<std::string> candidates;
};
ResolvedKey resolve_conversation_key(runtime::Engine& engine, const std::string& given);

// A channel's part of GET /admin/status (e.g. WhatsApp's sink mode): adds its keys.
using StatusSection = std::function<void(nlohmann::json& status)>;

void install_admin_routes(Server& server, const std::string& admin_token, runtime::Engine& engine,
                          std::vector<StatusSection> status_sections = {});

}  // namespace charla::http
