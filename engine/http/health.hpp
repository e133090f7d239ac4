#pragma once
// Liveness and readiness for orchestrators: /healthz answers while the process
// serves HTTP; /readyz answers 200 only while the engine takes events.
#include "http/server.hpp"
#include "runtime/engine.hpp"

namespace charla::http {

void install_health_routes(Server& server, const runtime::Engine& engine);

}  // namespace charla::http
