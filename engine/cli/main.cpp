// charla: conversational agents on WhatsApp, flows in Lua, state in LMDB.
#include "cli/commands.hpp"

#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"charla: conversational agents on WhatsApp, with flows written in Lua and state kept in LMDB"};
  app.set_version_flag("--version", std::string("charla ") + CHARLA_VERSION + " (allocator: " + CHARLA_MALLOC_NAME + ")");
  app.require_subcommand(1);
  app.footer("Run 'charla COMMAND --help' for a command's options. Docs: README.md, docs/flows.md");
  charla::cli::Command chosen;
  charla::cli::add_serve_command(app, chosen);
  charla::cli::add_chat_command(app, chosen);
  charla::cli::add_check_command(app, chosen);
  charla::cli::add_graph_command(app, chosen);
  charla::cli::add_test_command(app, chosen);
  charla::cli::add_backup_command(app, chosen);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);  // prints help/version (rc 0) or the usage error
    return rc == 0 ? 0 : 2;
  }
  return chosen ? chosen() : 2;
}
