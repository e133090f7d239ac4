#include "http/health.hpp"

namespace charla::http {

void install_health_routes(Server& server, const runtime::Engine& engine) {
  server.route(beast_http::verb::get, "/healthz",
               [](Request&, Respond respond) { respond(Response::json(200, R"({"status":"ok"})")); });
  server.route(beast_http::verb::get, "/readyz", [&engine](Request&, Respond respond) {
    if (engine.running())
      respond(Response::json(200, R"({"status":"ready"})"));
    else
      respond(Response::json(503, R"({"status":"starting or stopping"})"));
  });
}

}  // namespace charla::http
