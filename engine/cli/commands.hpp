#pragma once
// Each subcommand registers its flags on the CLI11 app and, when chosen, sets the
// function main() runs after parsing.
#include <CLI/CLI.hpp>

#include <functional>

namespace charla::cli {

using Command = std::function<int()>;

void add_serve_command(CLI::App& app, Command& chosen);
void add_chat_command(CLI::App& app, Command& chosen);
void add_check_command(CLI::App& app, Command& chosen);
void add_graph_command(CLI::App& app, Command& chosen);
void add_test_command(CLI::App& app, Command& chosen);

}  // namespace charla::cli
