#include "http/console_routes.hpp"

#include "http/admin_api.hpp"
#include "http/console_assets.hpp"
#include "lua/flow_graph.hpp"

namespace charla::http {

using nlohmann::json;

namespace {

Response json_response(unsigned status, const json& body) {
  return Response::json(status, body.dump(-1, ' ', false, json::error_handler_t::replace));
}

const ConsoleAsset* find_asset(std::string_view name) {
  for (auto& a : console_assets())
    if (a.name == name) return &a;
  return nullptr;
}

void serve_console(const Request& req, const Respond& respond) {
  std::string_view name = req.path;
  name.remove_prefix(std::min(name.size(), std::string_view("/console").size()));
  if (!name.empty() && name.front() == '/') name.remove_prefix(1);
  if (name.empty()) name = "index.html";
  const auto* asset = find_asset(name);
  if (!asset) return respond(Response::json(404, R"({"error":"no such console file"})"));
  Response res{200, std::string(asset->content_type), std::string(asset->body), console_security_headers()};
  respond(std::move(res));
}

json flow_summary(const runtime::Engine& engine, const std::string& name) {
  json out{{"name", name}, {"default", name == engine.default_flow()}};
  if (const auto* flow = engine.flow(name)) {
    out["version"] = flow->version;
    out["initial"] = flow->initial;
    out["states"] = flow->states;
    out["final_states"] = flow->final_states;
  }
  return out;
}

// /admin/flows/{name}/graph
void flow_graph_route(const runtime::Engine& engine, const Request& req, const Respond& respond) {
  const std::string base = "/admin/flows/", suffix = "/graph";
  std::string rest = req.path.substr(base.size());
  if (rest.size() <= suffix.size() || !rest.ends_with(suffix))
    return respond(json_response(404, {{"error", "use GET /admin/flows/{name}/graph"}}));
  const auto name = rest.substr(0, rest.size() - suffix.size());
  const auto* flow = engine.flow(name);
  if (!flow) return respond(json_response(404, {{"error", "no loaded flow named '" + name + "'"}}));
  auto format = req.query.count("format") ? req.query.at("format") : std::string("mermaid");
  if (format != "mermaid" && format != "dot")
    return respond(json_response(400, {{"error", "format must be mermaid or dot"}}));
  respond(Response::text(200, lua::flow_graph(*flow, format == "dot" ? lua::GraphFormat::dot : lua::GraphFormat::mermaid)));
}

}  // namespace

std::vector<std::pair<std::string, std::string>> console_security_headers() {
  return {{"Content-Security-Policy",
           "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
           "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
          {"X-Content-Type-Options", "nosniff"},
          {"X-Frame-Options", "DENY"},
          {"Referrer-Policy", "no-referrer"},
          {"Cache-Control", "no-cache"}};
}

void install_console_routes(Server& server, const std::string& admin_token, runtime::Engine& engine) {
  using beast_http::verb;
  server.route(verb::get, "/console", serve_console);
  server.route(verb::get, "/console/*", serve_console);
  server.route(verb::get, "/admin/flows", [admin_token, &engine](Request& req, Respond respond) {
    if (!admin_authorized(admin_token, req, respond)) return;
    json flows = json::array();
    for (auto& name : engine.flow_names()) flows.push_back(flow_summary(engine, name));
    respond(json_response(200, {{"flows", flows}}));
  });
  server.route(verb::get, "/admin/flows/*", [admin_token, &engine](Request& req, Respond respond) {
    if (!admin_authorized(admin_token, req, respond)) return;
    try {
      flow_graph_route(engine, req, respond);
    } catch (const std::exception& e) {
      respond(json_response(500, {{"error", std::string("cannot draw the flow: ") + e.what()}}));
    }
  });
  server.route(verb::get, "/admin/routes", [admin_token, &server](Request& req, Respond respond) {
    if (!admin_authorized(admin_token, req, respond)) return;
    json routes = json::array();
    for (auto& r : server.routes()) routes.push_back({{"method", r.method}, {"path", r.path}});
    respond(json_response(200, {{"routes", routes}}));
  });
}

}  // namespace charla::http
