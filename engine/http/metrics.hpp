#pragma once
// GET /metrics in the Prometheus text format: engine, store and any extra source a
// channel or plugin contributes (the CLI wires them; the engine knows none).
#include "http/server.hpp"
#include "runtime/engine.hpp"
#include "store/store.hpp"

#include <functional>
#include <sstream>
#include <vector>

namespace charla::http {

using MetricsSource = std::function<void(std::ostringstream&)>;

void install_metrics_route(Server& server, const runtime::Engine& engine, const store::Store& store,
                           std::vector<MetricsSource> extra);

// One counter line with HELP and TYPE, for sources.
void write_counter(std::ostringstream& out, const char* name, const char* help, std::uint64_t value);
void write_gauge(std::ostringstream& out, const char* name, const char* help, double value);

}  // namespace charla::http
