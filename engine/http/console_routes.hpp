#pragma once
// The web console at /console (static files compiled into the binary, served with a
// strict Content-Security-Policy) and the admin endpoints only it needs:
//   GET /admin/flows                  loaded flows: name, version, initial state, states
//   GET /admin/flows/{name}/graph     the flow's Mermaid diagram, as `charla graph` prints it
//   GET /admin/routes                 the server's route table (the OpenAPI parity test)
// The console's files are public (they hold no data); every call they make to /admin
// carries the admin token as a Bearer header.
#include "http/server.hpp"
#include "runtime/engine.hpp"

#include <string>

namespace charla::http {

// The headers every console file is served with: scripts and styles only from this
// origin (no inline script, no eval), no framing, no referrer, no sniffing.
std::vector<std::pair<std::string, std::string>> console_security_headers();

// Install after every other route, so /admin/routes lists them all.
void install_console_routes(Server& server, const std::string& admin_token, runtime::Engine& engine);

}  // namespace charla::http
