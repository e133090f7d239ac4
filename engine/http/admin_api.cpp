#include "http/admin_api.hpp"

#include "http/auth.hpp"
#include "log/log.hpp"
#include "runtime/conversation.hpp"

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

namespace {

json summary(const Conversation& c) {
  return {{"conversation", c.key}, {"channel", c.channel}, {"account", c.account}, {"user", c.user},
          {"name", c.name}, {"flow", c.flow}, {"state", c.state}, {"paused", c.paused},
          {"last_inbound_ms", c.last_inbound_ms}, {"updated_ms", c.updated_ms}, {"turns", c.turns},
          {"errors", c.errors}};
}

std::optional<Conversation> read_conversation(runtime::Engine& engine, const std::string& key) {
  auto txn = engine.store().read();
  auto raw = txn.get(store::Db::conv, key);
  if (!raw) return std::nullopt;
  return Conversation::from_json(key, json::parse(*raw));
}

json history_of(runtime::Engine& engine, const Conversation& c) {
  json out = json::array();
  auto txn = engine.store().read();
  auto prefix = runtime::history_prefix(c.key);
  txn.scan_prefix(store::Db::history, prefix, [&](std::string_view, std::string_view v) {
    out.push_back(json::parse(v));
    return true;
  });
  return out;
}

// Lists conversations in key order, filtered, `limit` per page; `cursor` is the last
// key of the previous page.
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
  json items = json::array();
  std::string last;
  bool more = false;
  auto txn = engine.store().read();
  txn.scan(store::Db::conv, cursor, [&](std::string_view k, std::string_view v) {
    if (k == cursor) return true;
    auto c = Conversation::from_json(std::string(k), json::parse(v));
    if ((!state.empty() && c.state != state) || (!flow.empty() && c.flow != flow) ||
        (!paused.empty() && c.paused != (paused == "true")))
      return true;
    if (items.size() == limit) {
      more = true;
      return false;
    }
    items.push_back(summary(c));
    last = c.key;
    return true;
  });
  json out{{"conversations", items}};
  if (more) out["next_cursor"] = last;
  return out;
}

// Deletes a conversation's record, history and timers, so its next message starts
// the flow afresh.
void reset_conversation(runtime::Engine& engine, const std::string& key, Respond respond) {
  engine.with_conversation(key, [&engine, key, respond] {
    engine.store().submit(
        [key](store::WriteTxn& txn) {
          auto raw = txn.get(store::Db::conv, key);
          if (!raw) return;
          auto c = Conversation::from_json(key, json::parse(*raw));
          for (auto& [name, due] : c.timers) txn.del(store::Db::timers, runtime::timer_key(due, key, name));
          for (auto seq = c.history_first; seq < c.history_next; ++seq)
            txn.del(store::Db::history, runtime::history_key(key, seq));
          txn.del(store::Db::conv, key);
        },
        [key, respond](const std::string& error) {
          if (!error.empty()) return respond(Response::json(500, json{{"error", error}}.dump()));
          log::info("conversation_reset", {{"conversation", key}});
          respond(Response::json(200, json{{"conversation", key}, {"reset", true}}.dump()));
        });
  });
}

// Applies `change` to an existing record on the conversation's worker.
void update_conversation(runtime::Engine& engine, const std::string& key, std::function<std::string(Conversation&)> change,
                         Respond respond) {
  engine.with_conversation(key, [&engine, key, change, respond] {
    auto problem = std::make_shared<std::string>();
    auto result = std::make_shared<json>();
    engine.store().submit(
        [key, change, problem, result](store::WriteTxn& txn) {
          auto raw = txn.get(store::Db::conv, key);
          if (!raw) {
            *problem = "no conversation " + key;
            return;
          }
          auto c = Conversation::from_json(key, json::parse(*raw));
          *problem = change(c);
          if (!problem->empty()) return;
          txn.put(store::Db::conv, key, c.to_json().dump());
          *result = summary(c);
        },
        [problem, result, respond](const std::string& error) {
          if (!error.empty()) return respond(Response::json(500, json{{"error", error}}.dump()));
          if (!problem->empty()) return respond(Response::json(404, json{{"error", *problem}}.dump()));
          respond(Response::json(200, result->dump()));
        });
  });
}

// Accepts a full conversation key, or a bare phone that matches one conversation's user.
std::string resolve_key(runtime::Engine& engine, const std::string& given) {
  if (given.find(':') != std::string::npos) return given;
  std::string found;
  auto txn = engine.store().read();
  txn.scan(store::Db::conv, "", [&](std::string_view k, std::string_view) {
    auto pos = k.rfind(':');
    if (pos != std::string_view::npos && k.substr(pos + 1) == given) {
      found = std::string(k);
      return false;
    }
    return true;
  });
  return found.empty() ? given : found;
}

}  // namespace

void install_admin_routes(Server& server, const std::string& admin_token, runtime::Engine& engine,
                          std::vector<StatusSection> status_sections) {
  using beast_http::verb;
  auto guarded = [token = admin_token](auto handler) {
    return [token, handler](Request& req, Respond respond) {
      if (admin_authorized(token, req, respond)) handler(req, std::move(respond));
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
                                     {"store", {{"commits", st.commits}, {"writes", st.writes}, {"map_size", st.map_size}}}};
    for (auto& section : status_sections) section(out);
    respond(Response::json(200, out.dump()));
  });
  auto list = guarded([&engine](Request& req, Respond respond) {
    respond(Response::json(200, list_conversations(engine, req).dump()));
  });
  server.route(verb::get, "/admin/status", status);
  server.route(verb::get, "/webhook/status", status);
  server.route(verb::get, "/admin/conversations", list);
  server.route(verb::get, "/webhook/conversations", list);

  // /admin/conversations/{key}[/reset|/state|/pause|/resume]
  auto one = guarded([&engine](Request& req, Respond respond) {
    std::string rest = req.path.substr(std::string("/admin/conversations/").size());
    std::string action;
    if (auto slash = rest.rfind('/'); slash != std::string::npos) {
      action = rest.substr(slash + 1);
      rest = rest.substr(0, slash);
    }
    const auto key = resolve_key(engine, rest);
    if (action.empty() && req.method == verb::get) {
      auto c = read_conversation(engine, key);
      if (!c) return respond(Response::json(404, json{{"error", "no conversation " + key}}.dump()));
      auto out = summary(*c);
      out["data"] = c->data;
      out["timers"] = c->timers;
      out["handoff_reason"] = c->handoff_reason;
      out["history"] = history_of(engine, *c);
      return respond(Response::json(200, out.dump()));
    }
    if (req.method == verb::delete_ && action.empty()) return reset_conversation(engine, key, std::move(respond));
    if (req.method != verb::post) return respond(Response::json(405, R"({"error":"method not allowed"})"));
    if (action == "reset") return reset_conversation(engine, key, std::move(respond));
    if (action == "pause" || action == "resume") {
      bool pause = action == "pause";
      return update_conversation(engine, key, [pause](Conversation& c) {
        c.paused = pause;
        if (!pause) c.handoff_reason.clear();
        return std::string();
      }, std::move(respond));
    }
    if (action == "state") {
      auto body = json::parse(req.body, nullptr, false);
      if (!body.is_object() || !body.contains("state") || !body["state"].is_string())
        return respond(Response::json(400, R"({"error":"body must be {\"state\": \"NAME\"}"})"));
      auto state = body["state"].get<std::string>();
      return update_conversation(engine, key, [&engine, state](Conversation& c) {
        auto* flow = engine.flow(c.flow);
        if (!flow || std::find(flow->states.begin(), flow->states.end(), state) == flow->states.end())
          return "flow '" + c.flow + "' has no state '" + state + "'";
        c.state = state;
        return std::string();
      }, std::move(respond));
    }
    respond(Response::json(404, json{{"error", "unknown action '" + action + "'"}}.dump()));
  });
  for (auto method : {verb::get, verb::post, verb::delete_}) server.route(method, "/admin/conversations/*", one);
  server.route(verb::delete_, "/webhook/conversation/*", guarded([&engine](Request& req, Respond respond) {
    auto key = resolve_key(engine, req.path.substr(std::string("/webhook/conversation/").size()));
    reset_conversation(engine, key, std::move(respond));
  }));
}

}  // namespace charla::http
