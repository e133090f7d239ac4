// worker_nice: the worker threads run that much nicer than the rest of the process, so
// webhook intake, the store writer and the sender get the CPU first; turns still run.
#include "runtime_fixture.hpp"

#include <catch2/catch.hpp>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <map>

#include <sys/resource.h>

using namespace charla;
using namespace charla::testing;

namespace {

constexpr const char* kEcho = R"(
return { name = "echo", version = 1, initial = "A",
  states = { A = { message = function(ctx, msg) ctx:say("eco: " .. msg.text) end } } }
)";

// Nice value of each of this process's threads, by thread name.
std::map<std::string, int> read_nice_by_thread_name() {
  std::map<std::string, int> out;
  for (auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    if (!std::getline(comm, name)) continue;
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, static_cast<id_t>(std::stol(task.path().filename().string())));
    if (errno == 0) out[name] = nice;
  }
  return out;
}

// A thread names and renices itself once it runs: wait (bounded) until the workers have.
std::map<std::string, int> nice_by_thread_name() {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    auto out = read_nice_by_thread_name();
    if ((out.count("worker-0") && out.count("worker-1")) || std::chrono::steady_clock::now() > deadline) return out;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

TEST_CASE("worker_nice lowers the workers' priority only, and turns still run") {
  const int process_nice = getpriority(PRIO_PROCESS, 0);
  EngineRig rig(kEcho, {.store = {}, .engine = [](runtime::EngineOptions& o) { o.worker_nice = 5; }});
  rig.engine->start();
  auto nice = nice_by_thread_name();
  REQUIRE(nice.count("worker-0"));
  REQUIRE(nice.count("worker-1"));
  CHECK(nice["worker-0"] == std::min(process_nice + 5, 19));
  CHECK(nice["worker-1"] == std::min(process_nice + 5, 19));
  REQUIRE(nice.count("writer"));
  CHECK(nice["writer"] == process_nice);

  accept_all(*rig.engine, {text_event("ana", "hola", "wamid.nice.1")});
  REQUIRE(rig.channel.wait_for(1, std::chrono::seconds(10)));
  CHECK(rig.texts("ana") == std::vector<std::string>{"eco: hola"});
  rig.engine->stop();
}

TEST_CASE("without worker_nice the workers keep the process's priority") {
  const int process_nice = getpriority(PRIO_PROCESS, 0);
  EngineRig rig(kEcho);
  rig.engine->start();
  auto nice = nice_by_thread_name();
  REQUIRE(nice.count("worker-0"));
  CHECK(nice["worker-0"] == process_nice);
  rig.engine->stop();
}
