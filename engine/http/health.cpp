#include "http/health.hpp"

namespace charla::http {

void install_health_routes(Server& server, const runtime::Engine& engine, const store::Store& store) {
  server.route(beast_http::verb::get, "/healthz",
               [](Request&, Respond respond) { respond(Response::json(200, R"({"status":"ok"})")); });
  server.route(beast_http::verb::get, "/readyz", [&engine, &store](Request&, Respond respond) {
    if (!engine.running()) return respond(Response::json(503, R"({"status":"starting or stopping"})"));
    auto stats = store.stats();
    if (stats.commit_failing) {
      nlohmann::json body{{"status", "store cannot commit"}, {"cause", stats.commit_failure}};
      return respond(Response::json(503, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
    }
    respond(Response::json(200, R"({"status":"ready"})"));
  });
}

}  // namespace charla::http
