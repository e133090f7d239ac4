#pragma once
// `charla test PATH...`: finds *_test.lua files, runs every test(...) block of each in
// a Lua state of its own, prints one line per test and a closing "N passed, N failed".
//
// Exit status: 0 all passed, 1 any test failed, 2 usage or load error (no test files,
// a test file that does not load, a JUnit file that cannot be written).
#include "flowtest/channel_profile.hpp"

#include <chrono>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

namespace charla::flowtest {

struct RunOptions {
  std::vector<std::filesystem::path> paths;  // files or directories (searched recursively)
  std::filesystem::path junit;               // empty: no JUnit XML
  std::chrono::seconds test_timeout{120};    // one test's wall time at most
};

struct TestResult {
  std::string file;     // as found (relative to where charla test was started when given so)
  std::string name;
  bool ok = false;
  std::string message;  // failures: file:line, expected vs actual, the conversation so far
  double seconds = 0;
};

// The files a run would use, sorted; throws std::runtime_error for a missing path.
std::vector<std::filesystem::path> find_test_files(const std::vector<std::filesystem::path>& paths);

int run_tests(const RunOptions& options, const ChannelProfile& profile, std::ostream& out);

// JUnit XML (one testsuite per file); throws std::runtime_error if it cannot be written.
void write_junit(const std::filesystem::path& file, const std::vector<TestResult>& results,
                 const std::vector<std::pair<std::string, std::string>>& load_errors);

}  // namespace charla::flowtest
