#pragma once
// Wires the channels (and their routes) into `charla serve`. The CLI is the one
// place that knows every channel; the engine never includes one.
#include "cli/bootstrap.hpp"
#include "http/server.hpp"

#include <memory>

namespace charla::cli {

struct ServeWiring {
  virtual ~ServeWiring() = default;
};

std::unique_ptr<ServeWiring> wire_serve(Services& services, http::Server& server);

}  // namespace charla::cli
