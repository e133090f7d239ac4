#include "http/admin_api.hpp"

#include "http/auth.hpp"
#include "log/log.hpp"
#include "runtime/conversation.hpp"
#include "runtime/handoff_index.hpp"
#include "runtime/handoffs.hpp"

namespace charla::http {

using nlohmann::json;
using runtime::Conversation;

bool admin_authorized(const std::string& token, const Request& req, const Respond& respond) {
  if (token.empty()) {
    respond(Response::json(401, R"({"error":"admin API disabled: set CHARLA_ADMIN_TOKEN"})"));
    return false;
  }
  if (!bearer_matches(req.header("Authorization"), token)) {
    respond(Response::json(401, R"({"error":"missing or wrong bearer token"})"));
    return false;
  }
  return true;
}

ResolvedKey resolve_conversation_key(runtime::Engine& engine, const std::string& given) {
  if (given.find(':') != std::string::npos) return {given, {}};
  ResolvedKey out;
  auto txn = engine.store().read();
  txn.scan(store::Db::conv, "", [&](std::string_view k, std::string_view) {
    auto pos = k.rfind(':');
    if (pos != std::string_view::npos && k.substr(pos + 1) == given) out.candidates.emplace_back(k);
    return true;
  });
  out.key = out.candidates.size() == 1 ? out.candidates.front() : given;
  return out;
}

namespace {

// Stored strings and request paths may hold any bytes: every body is dumped with
// invalid UTF-8 replaced, so no answer can throw (type_error 316) or echo raw bytes.
Response json_response(unsigned status, const json& body) {
  return Response::json(status, body.dump(-1, ' ', false, json::error_handler_t::replace));
}
Response error_response(unsigned status, const std::string& message) { return json_response(status, {{"error", message}}); }

// LMDB keys are 1..511 bytes; anything else is a bad request, not a store error.
std::optional<std::string> bad_key(const std::string& key) {
  if (key.empty()) return "conversation key is empty";
  if (key.size() > 400) return "conversation key is longer than 400 bytes";
  return std::nullopt;
}

json summary(const Conversation& c) {
  return {{"conversation", c.key}, {"channel", c.channel}, {"account", c.account}, {"user", c.user},
          {"name", c.name}, {"flow", c.flow}, {"state", c.state}, {"paused", c.paused},
          {"last_inbound_ms", c.last_inbound_ms}, {"updated_ms", c.updated_ms}, {"turns", c.turns},
          {"errors", c.errors}};
}

// A stored record, or why it cannot be read (then the engine has set it aside).
struct StoredConversation {
  std::optional<Conversation> conv;
  std::string error;
};

StoredConversation parse_conversation(const std::string& key, std::string_view raw) {
  try {
    return {Conversation::from_json(key, json::parse(raw)), {}};
  } catch (const std::exception& e) {
    return {std::nullopt, std::string("stored record unreadable: ") + e.what()};
  }
}

json history_of(runtime::Engine& engine, const Conversation& c) {
  json out = json::array();
  auto txn = engine.store().read();
  auto prefix = runtime::history_prefix(c.key);
  txn.scan_prefix(store::Db::history, prefix, [&](std::string_view, std::string_view v) {
    auto entry = json::parse(v, nullptr, false);
    out.push_back(entry.is_discarded() ? json{{"corrupt", true}} : entry);
    return true;
  });
  return out;
}

// Lists conversations in key order, filtered, `limit` per page; `cursor` is the last
// key of the previous page. An unreadable record is listed (marked corrupt) when no
// filter is given, so one bad row never hides the others.
json list_conversations(runtime::Engine& engine, const Request& req) {
  auto param = [&](const char* k) {
    auto it = req.query.find(k);
    return it == req.query.end() ? std::string() : it->second;
  };
  std::size_t limit = 50;
  try {
    if (!param("limit").empty()) limit = std::clamp<std::size_t>(std::stoul(param("limit")), 1, 1000);
  } catch (const std::exception&) {
  }
  const auto state = param("state"), flow = param("flow"), cursor = param("cursor"), paused = param("paused");
  const bool filtered = !state.empty() || !flow.empty() || !paused.empty();
  json items = json::array();
  std::string last;
  bool more = false;
  auto txn = engine.store().read();
  auto visit = [&](std::string_view k, std::string_view v) {
    if (k == cursor) return true;
    auto stored = parse_conversation(std::string(k), v);
    if (!stored.conv && filtered) return true;
    if (stored.conv) {
      const auto& c = *stored.conv;
      if ((!state.empty() && c.state != state) || (!flow.empty() && c.flow != flow) ||
          (!paused.empty() && c.paused != (paused == "true")))
        return true;
    }
    if (items.size() == limit) {
      more = true;
      return false;
    }
    items.push_back(stored.conv ? summary(*stored.conv)
                                : json{{"conversation", std::string(k)}, {"corrupt", true}, {"error", stored.error}});
    last = std::string(k);
    return true;
  };
  if (paused == "true" && runtime::paused_index_ready(txn)) {
    // Only the paused conversations' records, in the same key order and with the same
    // cursor as the full scan: at 1M conversations, not 760 MB of JSON per page.
    txn.scan(store::Db::paused, cursor, [&](std::string_view k, std::string_view) {
      auto raw = txn.get(store::Db::conv, k);
      return !raw || visit(k, *raw);
    });
  } else {
    txn.scan(store::Db::conv, cursor, visit);
  }
  json out{{"conversations", items}};
  if (more) out["next_cursor"] = last;
  return out;
}

Response conversation_detail(runtime::Engine& engine, const std::string& key) {
  std::optional<std::string> raw;
  {
    auto txn = engine.store().read();
    raw = txn.get(store::Db::conv, key);
  }
  if (!raw) return error_response(404, "no conversation " + key);
  auto stored = parse_conversation(key, *raw);
  if (!stored.conv)  // the record stays as it is for inspection; reset starts the conversation afresh
    return json_response(200, {{"conversation", key}, {"corrupt", true}, {"error", stored.error},
                               {"quarantine", engine.quarantine(key)}});
  const auto& c = *stored.conv;
  auto out = summary(c);
  out["data"] = c.data;
  out["timers"] = c.timers;
  out["handoff_reason"] = c.handoff_reason;
  out["paused_ms"] = c.paused_ms;
  out["held_timers"] = c.held_timers;  // came due while paused; resume re-arms them
  out["history"] = history_of(engine, c);
  out["quarantine"] = engine.quarantine(key);  // its quarantined messages, if any
  return json_response(200, out);
}

void reset_conversation(runtime::Engine& engine, const std::string& key, Respond respond) {
  engine.reset_conversation(key, [key, respond](unsigned status, const std::string& message) {
    if (status != 200) return respond(error_response(status, message));
    respond(json_response(200, {{"conversation", key}, {"reset", true}}));
  });
}

// 409 naming every conversation a bare phone matches: picking one would act on the wrong customer.
Response ambiguous_phone(const std::string& phone, const std::vector<std::string>& candidates) {
  return json_response(409, {{"error", "phone " + phone + " matches " + std::to_string(candidates.size()) +
                                           " conversations; use the full conversation key"},
                             {"candidates", candidates}});
}

// Answers an engine handoff/state action with the record's summary.
runtime::Engine::ConversationDone conversation_answer(Respond respond) {
  return [respond](unsigned status, const std::string& error, const Conversation* c) {
    if (status != 200 || !c) return respond(error_response(status ? status : 500, error));
    auto out = summary(*c);
    out["handoff_reason"] = c->handoff_reason;
    out["timers"] = c->timers;
    respond(json_response(200, out));
  };
}

// The body of pause/resume/state: a JSON object, or nothing at all.
std::optional<json> object_body(const Request& req) {
  if (req.body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object();
  auto body = json::parse(req.body, nullptr, false);
  if (!body.is_object()) return std::nullopt;
  return body;
}

void conversation_action(runtime::Engine& engine, const std::string& key, const std::string& action,
                         const Request& req, Respond respond) {
  constexpr const char* kStateShape = R"(body must be a JSON object {"state": "NAME", "enter"?: true})";
  auto body = object_body(req);
  if (!body) return respond(error_response(400, action == "state" ? kStateShape : "body must be a JSON object or empty"));
  auto string_field = [&](const char* name) -> std::optional<std::string> {
    auto it = body->find(name);
    if (it == body->end() || it->is_null()) return std::nullopt;
    return it->is_string() ? std::optional(it->get<std::string>()) : std::nullopt;
  };
  for (const char* name : {"state", "reason"})
    if (body->contains(name) && !(*body)[name].is_null() && !(*body)[name].is_string())
      return respond(error_response(400, std::string("'") + name + "' must be a string"));
  if (action == "pause") return engine.pause_conversation(key, string_field("reason"), conversation_answer(respond));
  if (action == "resume") return engine.resume_conversation(key, string_field("state"), conversation_answer(respond));
  // action == "state"
  auto state = string_field("state");
  if (!state) return respond(error_response(400, kStateShape));
  auto enter = body->find("enter");
  if (enter != body->end() && !enter->is_boolean()) return respond(error_response(400, "'enter' must be true or false"));
  engine.set_conversation_state(key, *state, enter != body->end() && enter->get<bool>(), conversation_answer(respond));
}

void conversation_route(runtime::Engine& engine, Request& req, Respond respond) {
  using beast_http::verb;
  std::string rest = req.path.substr(std::string("/admin/conversations/").size());
  std::string action;
  if (auto slash = rest.rfind('/'); slash != std::string::npos) {
    action = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  if (auto problem = bad_key(rest)) return respond(error_response(400, *problem));
  const auto resolved = resolve_conversation_key(engine, rest);
  if (resolved.candidates.size() > 1) return respond(ambiguous_phone(rest, resolved.candidates));
  const auto& key = resolved.key;
  if (action.empty() && req.method == verb::get) return respond(conversation_detail(engine, key));
  if (req.method == verb::delete_ && action.empty()) return reset_conversation(engine, key, std::move(respond));
  if (req.method != verb::post) return respond(error_response(405, "method not allowed"));
  if (action == "reset") return reset_conversation(engine, key, std::move(respond));
  if (action == "pause" || action == "resume" || action == "state")
    return conversation_action(engine, key, action, req, std::move(respond));
  respond(error_response(404, "unknown action '" + action + "'"));
}

// /admin/quarantine[/{id}[/retry]]
void quarantine_route(runtime::Engine& engine, Request& req, Respond respond) {
  using beast_http::verb;
  const std::string base = "/admin/quarantine";
  std::string rest = req.path.size() > base.size() + 1 ? req.path.substr(base.size() + 1) : std::string();
  if (rest.empty()) {
    if (req.method != verb::get) return respond(error_response(405, "method not allowed"));
    auto it = req.query.find("conversation");
    return respond(json_response(200, {{"quarantine", engine.quarantine(it == req.query.end() ? "" : it->second)}}));
  }
  auto answer = [respond](unsigned status, const std::string& message) {
    respond(status == 200 ? json_response(200, {{"result", message}}) : error_response(status, message));
  };
  const std::string retry_suffix = "/retry";
  if (req.method == verb::post && rest.size() > retry_suffix.size() && rest.ends_with(retry_suffix))
    return engine.retry_quarantined(rest.substr(0, rest.size() - retry_suffix.size()), answer);
  if (req.method == verb::delete_) return engine.delete_quarantined(rest, answer);
  respond(error_response(405, "use POST /admin/quarantine/{id}/retry or DELETE /admin/quarantine/{id}"));
}

}  // namespace

void install_admin_routes(Server& server, const std::string& admin_token, runtime::Engine& engine,
                          std::vector<StatusSection> status_sections) {
  using beast_http::verb;
  // Any exception a handler lets out becomes a 500 naming it; the server's loop never sees it.
  auto guarded = [token = admin_token](auto handler) {
    return [token, handler](Request& req, Respond respond) {
      if (!admin_authorized(token, req, respond)) return;
      try {
        handler(req, respond);
      } catch (const std::exception& e) {
        log::error("admin_request_failed", {{"path", req.path}, {"error", e.what()}});
        respond(error_response(500, std::string("internal error: ") + e.what()));
      }
    };
  };
  auto status = guarded([&engine, status_sections](Request&, Respond respond) {
    auto s = engine.stats();
    auto st = engine.store().stats();
    json out{{"running", engine.running()},
             {"flows", engine.flow_names()},
             {"accepted", s.accepted},
             {"duplicates", s.duplicates},
             {"turns", s.turns},
             {"turn_errors", s.turn_errors},
             {"active_conversations", s.active_conversations},
             {"suspended_turns", s.suspended_turns},
             {"corrupt_rows", s.corrupt_rows},
             {"quarantine", {{"messages", s.quarantined_messages}, {"conversations", s.quarantined_conversations}}},
             {"store", {{"commits", st.commits}, {"writes", st.writes}, {"map_size", st.map_size}}},
             {"flow_load", engine.flows_status()}};
    for (auto& section : status_sections) section(out);
    respond(json_response(200, out));
  });
  auto list = guarded([&engine](Request& req, Respond respond) {
    respond(json_response(200, list_conversations(engine, req)));
  });
  server.route(verb::get, "/admin/status", status);
  server.route(verb::get, "/webhook/status", status);
  server.route(verb::get, "/admin/conversations", list);
  server.route(verb::get, "/webhook/conversations", list);

  // /admin/conversations/{key}[/reset|/state|/pause|/resume]
  auto one = guarded([&engine](Request& req, Respond respond) { conversation_route(engine, req, std::move(respond)); });
  for (auto method : {verb::get, verb::post, verb::delete_}) server.route(method, "/admin/conversations/*", one);
  auto quarantine = guarded([&engine](Request& req, Respond respond) { quarantine_route(engine, req, std::move(respond)); });
  server.route(verb::get, "/admin/quarantine", quarantine);
  for (auto method : {verb::post, verb::delete_}) server.route(method, "/admin/quarantine/*", quarantine);
  server.route(verb::get, "/admin/handoffs", guarded([&engine](Request&, Respond respond) {
    respond(json_response(200, runtime::list_handoffs(engine.store().read(), engine.clock().now_ms())));
  }));
  server.route(verb::post, "/admin/flows/reload", guarded([&engine](Request&, Respond respond) {
    engine.reload_flows([&engine, respond](const runtime::ReloadResult& r) {
      if (!r.ok) return respond(json_response(422, {{"error", "flows not reloaded: nothing changed"},
                                                    {"errors", r.errors}, {"generation", r.generation}}));
      respond(json_response(200, {{"reloaded", true}, {"flow_load", engine.flows_status()}}));
    });
  }));
  server.route(verb::delete_, "/webhook/conversation/*", guarded([&engine](Request& req, Respond respond) {
    auto rest = req.path.substr(std::string("/webhook/conversation/").size());
    if (auto problem = bad_key(rest)) return respond(error_response(400, *problem));
    const auto resolved = resolve_conversation_key(engine, rest);
    if (resolved.candidates.size() > 1) return respond(ambiguous_phone(rest, resolved.candidates));
    reset_conversation(engine, resolved.key, std::move(respond));
  }));
}

}  // namespace charla::http
