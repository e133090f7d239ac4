// `charla test [PATH...]`: runs flow tests (*_test.lua) on the real engine with a fake
// clock and scripted plugins (engine/flowtest/). This is where the WhatsApp channel's
// inbound `msg` shape and outbound limits are handed to the runner, so a flow meets
// the same messages and the same refusals in a test as in serve.
#include "cli/bootstrap.hpp"
#include "cli/commands.hpp"
#include "flowtest/runner.hpp"
#include "log/log.hpp"
#include "whatsapp/protocol/flowtest_profile.hpp"

#include <iostream>

namespace charla::cli {

namespace {

struct TestFlags {
  std::vector<std::string> paths;
  std::string junit;
  std::string log_level = "off";
  int timeout_s = 120;
};

int run_test(const TestFlags& flags) {
  log::set_level(log::parse_level(flags.log_level));
  flowtest::RunOptions options;
  for (auto& p : flags.paths) options.paths.emplace_back(p);
  if (options.paths.empty()) options.paths.emplace_back(".");
  options.junit = flags.junit;
  options.test_timeout = std::chrono::seconds(flags.timeout_s);
  return flowtest::run_tests(options, whatsapp::flowtest_profile(), std::cout);
}

}  // namespace

void add_test_command(CLI::App& app, Command& chosen) {
  auto flags = std::make_shared<TestFlags>();
  auto* cmd = app.add_subcommand("test", "Run flow tests (*_test.lua) with a fake clock and scripted plugins");
  cmd->add_option("paths", flags->paths, "test files, or directories searched recursively for *_test.lua (default: .)");
  cmd->add_option("--junit", flags->junit, "also write the results as JUnit XML to this file");
  cmd->add_option("--log-level", flags->log_level, "engine logs on stderr: debug, info, warn, error or off")
      ->capture_default_str();
  cmd->add_option("--timeout", flags->timeout_s, "seconds one test may run at most")->capture_default_str()->check(CLI::Range(1, 86400));
  cmd->callback([flags, &chosen] {
    chosen = [flags] { return run_guarded([&] { return run_test(*flags); }); };
  });
}

}  // namespace charla::cli
