// llm_turns: turns that call the LLM plugin, through the engine without HTTP intake.
//
// A durable Store in a temp dir, an Engine with 2 workers and a flow whose message
// handler answers with ctx:llm{prompt = msg.text}, against a fake OpenAI-compatible
// server over real HTTP on 127.0.0.1 (tests/support/fake_llm.hpp, run in a child process
// so its CPU and memory are not counted) that answers after a fixed latency. Phases, each on a fresh store and engine:
//
//   baseline   the same flow with ctx:say(msg.text) instead of the LLM: turns/s and
//              CPU per turn of the engine alone, in the same run
//   llm        --conversations conversations, each sends --rounds messages, the next
//              only after the reply to the previous committed (closed loop), with a
//              --latency-ms LLM: turns/s against the bound conversations / latency,
//              latency accepted -> committed, CPU per LLM call
//   suspended  every conversation sends one message to a --hold-ms LLM; while all the
//              turns wait on it, RSS growth over the idle engine / conversations gives
//              the memory per suspended turn
//
// --phases picks which run (default all three, in that order). The suspended phase alone
// (`--phases suspended`) runs in a process whose heap the closed-loop phases never
// touched, so its idle baseline is the idle engine's; run together, the pages those
// phases left resident are reused and the growth reads low. Besides RSS it reports the
// allocator's own count of live bytes (bench/alloc_stats.hpp: jemalloc when linked or
// preloaded, else glibc), which does not depend on what was resident before.
//
// Prints one JSON object on stdout; progress on stderr. Every wait is bounded.
//
//   llm_turns [--conversations 1000] [--rounds 5] [--latency-ms 200] [--hold-ms 2000]
//             [--workers 2] [--phase-timeout 60] [--phases baseline,llm,suspended]
//             [--http-version 1.1|2|h2c] [--max-concurrency 4096] [--tls-dir tests/fixtures/tls]
//
// --http-version sets plugins.llm.http_version (unset: the plugin's default); with "h2c"
// the fake speaks HTTP/2 without TLS (tests/support/fake_h2c_server.hpp), else HTTP/1.1.
// --tls-dir: the fake speaks TLS with DIR/localhost.pem and .key (HTTP/2 if the client
// offers it, else HTTP/1.1) at https://localhost, trusted through plugins.llm.ca_file.
// --max-concurrency sets plugins.llm.max_concurrency: 4096 puts every call in flight (the
// cost of a call in flight); below the number of turns held, the rest wait in the plugin's
// queue, and those past lua.turn_time_budget_ms fail (counted in turn_errors).
#include "log/log.hpp"
#include "runtime/channel.hpp"
#include "runtime/clock.hpp"
#include "runtime/engine.hpp"
#include "store/store.hpp"
#include "alloc_stats.hpp"
#include "bench_stats.hpp"
#include "support/fake_llm.hpp"
#include "support/temp_dir.hpp"

#include <malloc.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using nlohmann::json;
using Steady = std::chrono::steady_clock;
using namespace charla;

namespace {

using namespace charla::bench;

struct Args {
  int conversations = 1000;
  int rounds = 5;
  int latency_ms = 200;
  int hold_ms = 2000;
  int workers = 2;
  double phase_timeout_s = 60;
  std::string phases = "baseline,llm,suspended";
  std::string http_version;  // empty: the plugin's default
  std::string tls_dir;       // empty: no TLS
  // 4096: every call in flight at once (the per-call cost); the plugin's default is 32 per
  // worker, where further calls wait in its queue without a curl handle.
  int max_concurrency = 4096;
  bool has_phase(const std::string& p) const { return ("," + phases + ",").find("," + p + ",") != std::string::npos; }
};

class NullChannel final : public runtime::Channel {
 public:
  std::string name() const override { return "bench"; }
  void dispatch(std::vector<runtime::OutboundRow>) override {}
};

runtime::InboundEvent event(int conversation, int round) {
  runtime::InboundEvent e;
  e.channel = "bench";
  e.account = "acct";
  e.user = std::to_string(5215500000000ull + static_cast<std::uint64_t>(conversation));
  e.conversation = runtime::conversation_key(e.channel, e.account, e.user);
  e.dedup_id = "wamid." + e.user + "." + std::to_string(round);
  e.payload = {{"id", e.dedup_id}, {"type", "text"}, {"text", "¿qué cubre el seguro? " + std::to_string(round)}};
  e.accepted_at = Steady::now();
  return e;
}

// One engine on a fresh store, driven in a closed loop: each committed turn of a
// conversation sends its next message until `rounds` are done.
class Run {
 public:
  Run(const Args& a, const std::string& flow_text, const std::string& llm_url, int rounds)
      : a_(a), rounds_(rounds), round_(static_cast<std::size_t>(a.conversations), 0) {
    store::Store::Options so;
    so.dir = dir_.path() / "data";
    store_ = store::Store::open(so);
    runtime::EngineOptions o;
    o.workers = a.workers;
    o.flows = {dir_.write("bench.lua", flow_text)};
    o.plugins = {{"llm", {{"base_url", llm_url}, {"api_key", "bench"}, {"model", "fake-model"},
                          {"timeout_ms", 30000}, {"max_concurrency", a.max_concurrency}}}};
    if (!a.http_version.empty()) o.plugins["llm"]["http_version"] = a.http_version;
    if (!a.tls_dir.empty()) o.plugins["llm"]["ca_file"] = a.tls_dir + "/localhost.pem";
    engine_ = std::make_unique<runtime::Engine>(o, *store_, clock_);
    engine_->add_channel(channel_);
    engine_->add_turn_observer([this](const runtime::TurnReport& r) { on_turn(r); });
    engine_->start();
  }
  ~Run() {
    engine_->stop();
    store_->close();
  }

  // Sends the first message of every conversation; returns when all turns are done
  // or the deadline passes.
  bool drive(double timeout_s) {
    std::vector<runtime::InboundEvent> first;
    for (int i = 0; i < a_.conversations; ++i) first.push_back(event(i, 0));
    engine_->accept(std::move(first), [](const runtime::AcceptResult&) {});
    std::unique_lock lock(m_);
    return cv_.wait_for(lock, std::chrono::duration<double>(timeout_s),
                        [&] { return turns_ == static_cast<std::size_t>(a_.conversations) * rounds_; });
  }
  std::size_t turns() {
    std::lock_guard lock(m_);
    return turns_;
  }
  std::size_t errors() {
    std::lock_guard lock(m_);
    return errors_;
  }
  std::vector<std::uint32_t> latencies() {
    std::lock_guard lock(m_);
    return latencies_;
  }

 private:
  void on_turn(const runtime::TurnReport& r) {
    if (r.timer) return;
    const int i = static_cast<int>(std::stoull(r.user) - 5215500000000ull);
    int next = 0;
    {
      std::lock_guard lock(m_);
      ++turns_;
      if (!r.ok) ++errors_;
      latencies_.push_back(static_cast<std::uint32_t>(r.latency.count()));
      next = ++round_[static_cast<std::size_t>(i)];
      cv_.notify_all();
    }
    if (next < rounds_) engine_->accept({event(i, next)}, [](const runtime::AcceptResult&) {});
  }

  const Args& a_;
  int rounds_;
  test::TempDir dir_;
  std::unique_ptr<store::Store> store_;
  runtime::SystemClock clock_;
  NullChannel channel_;
  std::unique_ptr<runtime::Engine> engine_;
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<int> round_;
  std::size_t turns_ = 0, errors_ = 0;
  std::vector<std::uint32_t> latencies_;
};

const char* kLlmFlow = R"lua(
return { name = "bench", initial = "S", states = { S = { message = function(ctx, msg)
  local answer, err = ctx:llm{ prompt = msg.text }
  if not answer then return ctx:say("error " .. err.code) end
  ctx:say(answer)
end } } }
)lua";

const char* kSayFlow = R"lua(
return { name = "bench", initial = "S", states = { S = { message = function(ctx, msg)
  ctx:say(msg.text)
end } } }
)lua";

json closed_loop(const Args& a, const char* flow, const std::string& llm_url, const std::string& label) {
  std::cerr << "llm_turns: " << label << " (" << a.conversations << " conversations x " << a.rounds << ")\n";
  Run run(a, flow, llm_url, a.rounds);
  const double cpu0 = process_cpu_s();
  const auto t0 = Steady::now();
  const bool complete = run.drive(a.phase_timeout_s);
  const double secs = std::chrono::duration<double>(Steady::now() - t0).count();
  const double cpu = process_cpu_s() - cpu0;
  const auto turns = run.turns();
  return {{"complete", complete}, {"turns", turns}, {"turn_errors", run.errors()}, {"seconds", secs},
          {"turns_per_s", static_cast<double>(turns) / secs},
          {"process_cpu_s", cpu}, {"cpu_us_per_turn", turns ? cpu * 1e6 / static_cast<double>(turns) : 0.0},
          {"latency", latency_json(run.latencies())}};
}

json suspended(const Args& a, const std::string& llm_url) {
  std::cerr << "llm_turns: suspended (" << a.conversations << " turns waiting " << a.hold_ms << " ms)\n";
  const AllocStats alloc;
  Run run(a, kLlmFlow, llm_url, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  alloc.release_free_memory();
  const long idle_kb = read_rss().anon_kb;
  const long long idle_live = alloc.live_bytes();
  long peak_kb = idle_kb;
  long long peak_live = idle_live;
  std::thread sampler([&] {
    const auto end = Steady::now() + std::chrono::milliseconds(a.hold_ms - 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(a.hold_ms / 2));  // all accepted and suspended
    while (Steady::now() < end) {
      peak_kb = std::max(peak_kb, read_rss().anon_kb);
      peak_live = std::max(peak_live, alloc.live_bytes());
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  const bool complete = run.drive(a.phase_timeout_s);
  sampler.join();
  const double per_turn = static_cast<double>(peak_kb - idle_kb) * 1024.0 / a.conversations;
  const double live_per_turn = static_cast<double>(peak_live - idle_live) / a.conversations;
  return {{"complete", complete}, {"turns", run.turns()}, {"turn_errors", run.errors()},
          {"allocator", alloc.allocator()}, {"idle_anon_kb", idle_kb}, {"suspended_anon_kb", peak_kb},
          {"bytes_per_suspended_turn", per_turn}, {"idle_live_bytes", idle_live}, {"suspended_live_bytes", peak_live},
          {"live_bytes_per_suspended_turn", live_per_turn},
          {"note", "growth of the engine process while every turn waits on the LLM (the fake runs in "
                   "another process), as RSS and as the allocator's live bytes: Lua coroutine + ctx, the "
                   "pending HTTP request (curl's, or the h2c client's stream) and its connection, the engine's turn context"}};
}

// The fake LLM runs in a child process, so that its CPU, connections and buffers are
// not counted as the engine's. Returns the base URL; the child dies with this process.
struct FakeLlmProcess {
  pid_t pid = -1;
  std::string url;
  FakeLlmProcess(int latency_ms, bool h2c, const std::string& tls_dir) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
    pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      close(fds[0]);
      const auto wire = !tls_dir.empty() ? test::FakeLlm::Wire::tls : h2c ? test::FakeLlm::Wire::h2c : test::FakeLlm::Wire::http1;
      std::optional<test::FakeTls> tls;
      if (!tls_dir.empty()) tls = test::FakeTls{tls_dir + "/localhost.pem", tls_dir + "/localhost.key"};
      test::FakeLlm llm(wire, tls);
      llm.set_default(test::LlmStep::reply("Cubre fallecimiento por cualquier causa.", std::chrono::milliseconds(latency_ms)));
      const std::string u = llm.base_url() + "\n";
      if (write(fds[1], u.data(), u.size()) != static_cast<ssize_t>(u.size())) _exit(1);
      close(fds[1]);
      for (int i = 0; i < 600; ++i) sleep(1);  // bounded: the parent kills it long before
      _exit(0);
    }
    close(fds[1]);
    char buf[256];
    const ssize_t n = read(fds[0], buf, sizeof buf);
    close(fds[0]);
    if (n <= 1) throw std::runtime_error("fake LLM process did not start");
    url.assign(buf, static_cast<std::size_t>(n - 1));
  }
  ~FakeLlmProcess() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const std::string text = argv[i + 1];
    const int v = std::atoi(text.c_str());
    if (k == "--conversations") a.conversations = v;
    else if (k == "--rounds") a.rounds = v;
    else if (k == "--latency-ms") a.latency_ms = v;
    else if (k == "--hold-ms") a.hold_ms = v;
    else if (k == "--workers") a.workers = v;
    else if (k == "--phase-timeout") a.phase_timeout_s = v;
    else if (k == "--phases") a.phases = text;
    else if (k == "--http-version") a.http_version = text;
    else if (k == "--max-concurrency") a.max_concurrency = v;
    else if (k == "--tls-dir") a.tls_dir = text;
    else {
      std::cerr << "llm_turns: unknown option " << k << "\n";
      return 2;
    }
  }
  for (std::size_t from = 0; from <= a.phases.size();) {
    const std::size_t comma = std::min(a.phases.find(',', from), a.phases.size());
    const std::string p = a.phases.substr(from, comma - from);
    if (p != "baseline" && p != "llm" && p != "suspended") {
      std::cerr << "llm_turns: unknown phase '" << p << "' in --phases (baseline, llm, suspended)\n";
      return 2;
    }
    from = comma + 1;
  }
  log::set_level(log::Level::warn);
  // The fakes start before any thread of this process exists (fork copies one thread).
  std::unique_ptr<FakeLlmProcess> llm, slow_llm;
  const bool h2c = a.http_version == "h2c";
  if (a.has_phase("baseline") || a.has_phase("llm")) llm = std::make_unique<FakeLlmProcess>(a.latency_ms, h2c, a.tls_dir);
  if (a.has_phase("suspended")) slow_llm = std::make_unique<FakeLlmProcess>(a.hold_ms, h2c, a.tls_dir);
  json out{{"load_at_start", loadavg()}, {"conversations", a.conversations}, {"rounds", a.rounds},
           {"llm_latency_ms", a.latency_ms}, {"workers", a.workers}, {"phases", a.phases},
           {"http_version", a.http_version.empty() ? "default" : a.http_version}, {"tls", !a.tls_dir.empty()}};
  if (a.has_phase("baseline")) out["baseline"] = closed_loop(a, kSayFlow, llm->url, "baseline (no LLM)");
  if (a.has_phase("llm")) {
    out["llm"] = closed_loop(a, kLlmFlow, llm->url, "llm");
    const double bound = a.conversations * 1000.0 / a.latency_ms;
    out["llm"]["bound_turns_per_s"] = bound;
    out["llm"]["ratio_to_bound"] = out["llm"]["turns_per_s"].get<double>() / bound;
    if (out.contains("baseline")) {
      const double extra = out["llm"]["cpu_us_per_turn"].get<double>() - out["baseline"]["cpu_us_per_turn"].get<double>();
      out["llm"]["cpu_us_per_llm_call_over_baseline"] = extra;
    }
  }
  if (a.has_phase("suspended")) out["suspended"] = suspended(a, slow_llm->url);
  out["load_at_end"] = loadavg();
  std::cout << out.dump(2) << std::endl;
  return 0;
}
