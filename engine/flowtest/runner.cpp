#include "flowtest/runner.hpp"

#include "flowtest/lua_api.hpp"

#include <algorithm>
#include <stdexcept>

namespace charla::flowtest {

namespace fs = std::filesystem;

std::vector<fs::path> find_test_files(const std::vector<fs::path>& paths) {
  std::vector<fs::path> files;
  for (auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> found;
      for (auto it = fs::recursive_directory_iterator(p, fs::directory_options::skip_permission_denied, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        const auto name = it->path().filename().string();
        std::error_code file_ec;
        if (it->is_regular_file(file_ec) && name.size() > 9 && name.ends_with("_test.lua")) found.push_back(it->path());
      }
      if (ec) throw std::runtime_error("cannot read the directory " + p.string() + ": " + ec.message());
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(p, ec)) {
      files.push_back(p);
    } else {
      throw std::runtime_error("no such file or directory: " + p.string());
    }
  }
  return files;
}

namespace {

// A test that never returns (a loop in the test file) fails instead of hanging CI.
thread_local std::chrono::steady_clock::time_point g_deadline;
thread_local long g_timeout_s = 0;

void deadline_hook(lua_State* L, lua_Debug*) {
  if (std::chrono::steady_clock::now() > g_deadline)
    luaL_error(L, "the test ran longer than %d s (a loop that never ends?)", static_cast<int>(g_timeout_s));
}

std::string indent(const std::string& text, const std::string& prefix) {
  std::string out = prefix;
  for (char c : text) {
    out += c;
    if (c == '\n') out += prefix;
  }
  return out;
}

struct FileRun {
  std::vector<TestResult> results;
  std::string load_error;
};

FileRun run_file(const fs::path& file, const RunOptions& options, const ChannelProfile& profile, std::ostream& out) {
  FileRun run;
  lua_State* L = nullptr;
  try {
    L = new_test_state(fs::absolute(file), profile);
  } catch (const std::exception& e) {
    run.load_error = e.what();
    return run;
  }
  g_timeout_s = static_cast<long>(options.test_timeout.count());
  g_deadline = std::chrono::steady_clock::now() + options.test_timeout;
  lua_sethook(L, deadline_hook, LUA_MASKCOUNT, 100'000);
  if (luaL_loadfile(L, file.string().c_str()) != LUA_OK || lua_pcall(L, 0, 0, 0) != LUA_OK) {
    run.load_error = lua_tostring(L, -1) ? lua_tostring(L, -1) : "the file did not load";
    lua_close(L);
    return run;
  }
  lua_getglobal(L, "charla");
  lua_getfield(L, -1, "_tests");
  const auto count = luaL_len(L, -1);
  lua_pop(L, 2);
  if (count == 0) run.load_error = "no test(...) blocks in this file";
  for (lua_Integer i = 1; i <= count; ++i) {
    TestResult r;
    r.file = file.string();
    lua_getglobal(L, "charla");
    lua_getfield(L, -1, "_tests");
    lua_geti(L, -1, i);
    lua_getfield(L, -1, "name");
    r.name = lua_tostring(L, -1) ? lua_tostring(L, -1) : "?";
    lua_pop(L, 3);
    lua_getfield(L, -1, "_run");
    lua_pushinteger(L, i);
    const auto started = std::chrono::steady_clock::now();
    g_deadline = started + options.test_timeout;
    if (lua_pcall(L, 1, 2, 0) != LUA_OK) {
      r.ok = false;
      r.message = lua_tostring(L, -1) ? lua_tostring(L, -1) : "the test runner failed";
      lua_pop(L, 1);
    } else {
      r.ok = lua_toboolean(L, -2);
      if (lua_isstring(L, -1)) r.message = lua_tostring(L, -1);  // passed: notes, if any
      else if (!r.ok) r.message = "failed";
      lua_pop(L, 2);
    }
    lua_pop(L, 1);  // charla
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    out << (r.ok ? "ok   " : "FAIL ") << r.name << "\n";
    if (!r.message.empty()) out << indent(r.message, "     ") << "\n";
    out.flush();
    run.results.push_back(std::move(r));
  }
  g_deadline = std::chrono::steady_clock::now() + options.test_timeout;  // __gc of file-level sessions
  lua_close(L);
  return run;
}

}  // namespace

int run_tests(const RunOptions& options, const ChannelProfile& profile, std::ostream& out) {
  std::vector<fs::path> files;
  try {
    files = find_test_files(options.paths);
  } catch (const std::exception& e) {
    out << "charla test: " << e.what() << "\n";
    return 2;
  }
  if (files.empty()) {
    out << "charla test: no *_test.lua files found\n";
    return 2;
  }
  std::vector<TestResult> results;
  std::vector<std::pair<std::string, std::string>> load_errors;
  for (auto& file : files) {
    if (files.size() > 1) out << "# " << file.string() << "\n";
    auto run = run_file(file, options, profile, out);
    if (!run.load_error.empty()) {
      out << "ERROR " << file.string() << "\n" << indent(run.load_error, "     ") << "\n";
      load_errors.emplace_back(file.string(), run.load_error);
    }
    for (auto& r : run.results) results.push_back(std::move(r));
  }
  std::size_t passed = 0, failed = 0;
  for (auto& r : results) (r.ok ? passed : failed) += 1;
  out << passed << " passed, " << failed << " failed";
  if (!load_errors.empty()) out << ", " << load_errors.size() << (load_errors.size() == 1 ? " file" : " files") << " did not load";
  out << "\n";
  if (!options.junit.empty()) {
    try {
      write_junit(options.junit, results, load_errors);
    } catch (const std::exception& e) {
      out << "charla test: " << e.what() << "\n";
      return 2;
    }
  }
  if (!load_errors.empty()) return 2;
  return failed > 0 ? 1 : 0;
}

}  // namespace charla::flowtest
