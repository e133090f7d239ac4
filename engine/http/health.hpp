#pragma once
// Liveness and readiness for orchestrators: /healthz answers while the process
// serves HTTP; /readyz answers 200 only while the engine takes events and the store
// can commit (a full disk or a full LMDB map turns it 503, naming the cause).
#include "http/server.hpp"
#include "runtime/engine.hpp"
#include "store/store.hpp"

namespace charla::http {

void install_health_routes(Server& server, const runtime::Engine& engine, const store::Store& store);

}  // namespace charla::http
