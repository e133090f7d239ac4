#pragma once
// What every subcommand that runs flows needs: the merged configuration (file,
// environment, command-line flags), the store and the engine.
#include "config/config.hpp"
#include "runtime/clock.hpp"
#include "runtime/engine.hpp"
#include "store/store.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace charla::cli {

// Flags shared by `serve` and `chat`.
struct CommonFlags {
  std::string config_file;
  std::vector<std::string> flows;
  std::string data_dir;
  std::string log_level;
  int workers = 0;
};

config::Config load_config(const CommonFlags& flags);  // throws config::ConfigError

struct Services {
  config::Config config;
  runtime::SystemClock clock;
  // `charla chat --now`: a fake clock the engine (turns, timers, ctx:clock) reads
  // instead of `clock`; it moves only when told to.
  std::unique_ptr<runtime::ManualClock> fake_clock;
  const runtime::Clock& engine_clock() const { return fake_clock ? *fake_clock : static_cast<const runtime::Clock&>(clock); }
  std::unique_ptr<store::Store> store;
  std::unique_ptr<runtime::Engine> engine;
};

// Opens the store and builds (does not start) the engine. With `fake_now_ms` the
// engine runs on a fake clock starting there, and timers fire only on tick_timers().
std::unique_ptr<Services> make_services(config::Config config, std::optional<std::int64_t> fake_now_ms = std::nullopt);

// Runs `body` and maps startup errors to exit codes: 2 for configuration and flow
// errors (the user must fix a file), 1 for anything else.
int run_guarded(const std::function<int()>& body);

}  // namespace charla::cli
