#include "cli/serve_wiring.hpp"

namespace charla::cli {

std::unique_ptr<ServeWiring> wire_serve(Services&, http::Server&) { return std::make_unique<ServeWiring>(); }

}  // namespace charla::cli
