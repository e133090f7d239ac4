// `charla check FLOW...`: loads each flow in a sandboxed VM and reports what the
// loader's static checks find (syntax, unknown handler keys, unknown returned
// states, missing initial), so flow designers catch mistakes before deploying.
// States that no literal transition reaches are warnings: a flow may reach them by
// a computed name, which no static check can see.
#include "cli/commands.hpp"
#include "lua/flow_graph.hpp"
#include "lua/flow_host.hpp"

#include <boost/asio/io_context.hpp>

#include <iostream>

namespace charla::cli {

void add_check_command(CLI::App& app, Command& chosen) {
  auto* cmd = app.add_subcommand("check", "Check Lua flow files for errors without running them");
  auto files = std::make_shared<std::vector<std::string>>();
  cmd->add_option("flows", *files, "flow files")->required()->check(CLI::ExistingFile);
  cmd->callback([files, &chosen] {
    chosen = [files] {
      boost::asio::io_context io;
      lua::FlowHost host(io, lua::HostOptions{});
      int failures = 0;
      for (auto& f : *files) {
        try {
          const auto& info = host.load_flow(f);
          std::cout << "ok   " << f << ": flow '" << info.name << "' v" << info.version << ", "
                    << info.states.size() << " states, initial " << info.initial << "\n";
          for (const auto& state : lua::unreachable_states(info))
            std::cout << "warn " << f << ": state " << state << " is not reached from " << info.initial
                      << " by any literal transition (return \"" << state << "\" or ctx:go(\"" << state << "\"))\n";
        } catch (const std::exception& e) {
          ++failures;
          std::cout << "FAIL " << e.what() << "\n";
        }
      }
      return failures ? 2 : 0;
    };
  });
}

}  // namespace charla::cli
