#pragma once
#include "cli/bootstrap.hpp"

#include <CLI/CLI.hpp>

namespace charla::cli {

inline void add_common_flags(CLI::App& cmd, CommonFlags& flags) {
  cmd.add_option("-c,--config", flags.config_file, "JSON configuration file")->check(CLI::ExistingFile);
  cmd.add_option("--flow", flags.flows, "Lua flow file to load (repeatable); the first is the default flow")
      ->check(CLI::ExistingFile);
  cmd.add_option("--data", flags.data_dir, "data directory for LMDB (default: config data_dir, env CHARLA_DATA_DIR, ./data)");
  cmd.add_option("--log-level", flags.log_level, "debug, info, warn, error or off (logs go to stderr as JSON lines)");
  cmd.add_option("--workers", flags.workers, "worker threads (default: number of cores)")->check(CLI::Range(1, 256));
}

}  // namespace charla::cli
