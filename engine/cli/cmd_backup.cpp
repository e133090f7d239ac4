// `charla backup DIR`: a consistent copy of the store, safe while `charla serve` runs
// on the same data dir (store/backup.hpp). Restore = stop charla, put DIR/data.mdb in
// an empty data dir, start charla on it (docs/operations.md).
#include "cli/commands.hpp"
#include "config/config.hpp"
#include "store/backup.hpp"
#include "store/store.hpp"

#include <iostream>

namespace charla::cli {

void add_backup_command(CLI::App& app, Command& chosen) {
  struct Flags {
    std::string dest, config_file, data_dir;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("backup", "Copy the store (LMDB, compacted) into DIR; safe while charla serve runs");
  cmd->add_option("dir", flags->dest, "directory to write data.mdb into (created; must not hold a data.mdb)")->required();
  cmd->add_option("-c,--config", flags->config_file, "JSON configuration file (for its data_dir)")->check(CLI::ExistingFile);
  cmd->add_option("--data", flags->data_dir, "data directory of the store (default: config data_dir, env CHARLA_DATA_DIR, ./data)");
  cmd->callback([flags, &chosen] {
    chosen = [flags]() -> int {
      std::filesystem::path data_dir;
      try {
        std::optional<std::filesystem::path> file;
        if (!flags->config_file.empty()) file = flags->config_file;
        data_dir = flags->data_dir.empty() ? config::load(file).data_dir : std::filesystem::path(flags->data_dir);
      } catch (const std::exception& e) {
        std::cerr << "charla backup: " << e.what() << "\n";
        return 2;
      }
      try {
        auto r = store::backup(data_dir, flags->dest);
        std::cout << "backup written: " << r.file.string() << " (" << r.bytes << " bytes, " << r.conversations
                  << " conversations, schema " << r.schema_version << ")\n";
        return 0;
      } catch (const std::exception& e) {
        std::cerr << "charla backup: " << e.what() << "\n";
        return 1;
      }
    };
  });
}

}  // namespace charla::cli
