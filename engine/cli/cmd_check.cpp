// `charla check FLOW... [--json]`: loads each flow in a sandboxed VM and reports what
// the loader's static checks find (syntax, unknown handler keys, unknown returned
// states, missing initial), so flow designers catch mistakes before deploying.
// Warnings (unreachable states, dead ends not marked final, final states with a way
// out) do not fail the check: a flow may move by a computed name, which no static
// check can see. Exit status: 0 when every flow loads, 2 otherwise, in both formats.
#include "cli/commands.hpp"
#include "lua/flow_graph.hpp"
#include "lua/flow_host.hpp"

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <iostream>
#include <regex>

namespace charla::cli {
namespace {

struct Diagnostic {
  std::string file;
  int line = 0;  // 0: the whole file
  std::string message;
  std::string severity;  // "error" or "warning"
};

// Splits a load error ("file:line: message", "file: message") into its parts; the
// error may name another file than the flow's (a module it requires).
Diagnostic error_diagnostic(const std::string& flow_file, const std::string& what) {
  static const std::regex with_line(R"(^([^\n]+?):(\d+): ([\s\S]*)$)");
  std::smatch m;
  if (std::regex_match(what, m, with_line)) return {m[1], std::stoi(m[2]), m[3], "error"};
  const std::string prefix = flow_file + ": ";
  if (what.compare(0, prefix.size(), prefix) == 0) return {flow_file, 0, what.substr(prefix.size()), "error"};
  return {flow_file, 0, what, "error"};
}

std::string where(const Diagnostic& d) { return d.line > 0 ? d.file + ":" + std::to_string(d.line) : d.file; }

nlohmann::json to_json(const Diagnostic& d) {
  return {{"file", d.file}, {"line", d.line}, {"message", d.message}, {"severity", d.severity}};
}

int check(const std::vector<std::string>& files, bool json) {
  boost::asio::io_context io;
  lua::FlowHost host(io, lua::HostOptions{});
  int failures = 0;
  nlohmann::json doc = {{"files", nlohmann::json::array()},
                        {"errors", nlohmann::json::array()},
                        {"warnings", nlohmann::json::array()}};
  for (const auto& f : files) {
    try {
      const auto& info = host.load_flow(f);
      doc["files"].push_back({{"file", f},
                              {"ok", true},
                              {"flow", info.name},
                              {"version", info.version},
                              {"states", info.states.size()},
                              {"initial", info.initial}});
      if (!json)
        std::cout << "ok   " << f << ": flow '" << info.name << "' v" << info.version << ", " << info.states.size()
                  << " states, initial " << info.initial << "\n";
      for (const auto& w : lua::flow_warnings(info)) {
        const Diagnostic d{f, w.line, w.message, "warning"};
        doc["warnings"].push_back(to_json(d));
        if (!json) std::cout << "warn " << where(d) << ": " << d.message << "\n";
      }
    } catch (const std::exception& e) {
      ++failures;
      const Diagnostic d = error_diagnostic(f, e.what());
      doc["files"].push_back({{"file", f}, {"ok", false}});
      doc["errors"].push_back(to_json(d));
      if (!json) std::cout << "FAIL " << e.what() << "\n";
    }
  }
  if (json) std::cout << doc.dump(2) << "\n";
  return failures ? 2 : 0;
}

}  // namespace

void add_check_command(CLI::App& app, Command& chosen) {
  auto* cmd = app.add_subcommand("check", "Check Lua flow files for errors without running them");
  auto files = std::make_shared<std::vector<std::string>>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("flows", *files, "flow files")->required()->check(CLI::ExistingFile);
  cmd->add_flag("--json", *json, "print one JSON document (files, errors, warnings) for editors and CI");
  cmd->callback([files, json, &chosen] { chosen = [files, json] { return check(*files, *json); }; });
}

}  // namespace charla::cli
