// `charla serve`: the engine behind an HTTP listener (webhooks, admin API, health).
// SIGTERM/SIGINT stop it gracefully: stop accepting, finish running turns, flush
// commits, exit 0. SIGHUP reloads the flows (Engine::reload_flows).
#include "cli/commands.hpp"
#include "cli/common_flags.hpp"
#include "cli/serve_wiring.hpp"
#include "http/console_routes.hpp"
#include "http/fd_limit.hpp"
#include "http/health.hpp"
#include "log/log.hpp"

#include <csignal>
#include <pthread.h>

namespace charla::cli {

namespace {

struct ServeFlags {
  CommonFlags common;
  int port = -1;
  std::string bind;
};

int run_serve(const ServeFlags& flags) {
  // Block the stop signals before any thread starts so only sigwait() sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);  // reloads the flows (the result is logged)
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // Before the store opens: the data dir's lock and every connection need an fd.
  auto fds = http::raise_fd_limit();
  log::info("fd_limit", {{"soft_before", fds.before}, {"soft", fds.soft}, {"hard", fds.hard}});

  auto config = load_config(flags.common);
  if (flags.port >= 0) config.http_port = static_cast<std::uint16_t>(flags.port);
  if (!flags.bind.empty()) config.http_bind = flags.bind;
  auto services = make_services(config);

  http::ServerOptions so;
  so.bind = config.http_bind;
  so.port = config.http_port;
  so.header_timeout = std::chrono::milliseconds(config.http_header_timeout_ms);
  so.max_connections = static_cast<std::size_t>(config.http_max_connections);
  so.threads = static_cast<int>(config.http_threads);
  http::Server server(so);
  http::install_health_routes(server, *services->engine, *services->store);
  auto wiring = wire_serve(*services, server);
  if (!config.metrics_token.empty()) server.require_bearer("/metrics", config.metrics_token);
  http::install_console_routes(server, config.admin_token, *services->engine);  // last: it lists the routes
  services->engine->start();
  server.start();
  log::info("charla_ready", {{"port", server.port()}, {"flows", services->engine->flow_names()},
                             {"data_dir", config.data_dir.string()}});

  int signal = 0;
  while (sigwait(&stop_signals, &signal) == 0 && signal == SIGHUP) {
    log::info("flows_reload_requested", {{"by", "SIGHUP"}});
    services->engine->reload_flows([](const runtime::ReloadResult&) {});  // logs flows_reloaded or _refused
  }
  log::info("charla_stopping", {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"}});
  server.stop();
  services->engine->stop();
  wiring.reset();
  services->store->close();
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& app, Command& chosen) {
  auto flags = std::make_shared<ServeFlags>();
  auto* cmd = app.add_subcommand("serve", "Run the engine with its HTTP listener (webhooks, admin API, health)");
  add_common_flags(*cmd, flags->common);
  cmd->add_option("--port", flags->port, "HTTP port (default: config http.port, env CHARLA_HTTP_PORT, 8080)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--bind", flags->bind, "HTTP bind address (default 127.0.0.1)");
  cmd->callback([flags, &chosen] {
    chosen = [flags] { return run_guarded([&] { return run_serve(*flags); }); };
  });
}

}  // namespace charla::cli
