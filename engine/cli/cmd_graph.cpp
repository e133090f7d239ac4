// `charla graph FLOW [--format mermaid|dot]`: prints the flow's state diagram, drawn
// from the literal transitions its handlers make, for docs and reviews.
#include "cli/commands.hpp"
#include "lua/flow_graph.hpp"
#include "lua/flow_host.hpp"

#include <boost/asio/io_context.hpp>

#include <iostream>

namespace charla::cli {

void add_graph_command(CLI::App& app, Command& chosen) {
  auto* cmd = app.add_subcommand("graph", "Print a flow's state diagram (Mermaid or Graphviz DOT)");
  auto file = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>("mermaid");
  cmd->add_option("flow", *file, "flow file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--format,-f", *format, "mermaid (default) or dot")->check(CLI::IsMember({"mermaid", "dot"}));
  cmd->callback([file, format, &chosen] {
    chosen = [file, format] {
      boost::asio::io_context io;
      lua::FlowHost host(io, lua::HostOptions{});
      try {
        const auto kind = *format == "dot" ? lua::GraphFormat::dot : lua::GraphFormat::mermaid;
        std::cout << lua::flow_graph(host.load_flow(*file), kind);
      } catch (const std::exception& e) {
        std::cerr << "charla graph: " << e.what() << "\n";
        return 2;
      }
      return 0;
    };
  });
}

}  // namespace charla::cli
