// engine_turns: turns through the engine without HTTP.
//
// Opens a durable Store in a temp dir and an Engine running the reference flow
// (flows/insurance.lua) with a null channel ("bench", counts dispatched rows), then
// drives N conversations through the insurance script ("hola", "35", "no", "500000",
// "2" -> PROPUESTA). Each conversation sends its next message only after the previous
// turn committed (a customer waits for the reply); producer threads hand events to
// Engine::accept in batches, like the webhook intake does. Phases, each on a fresh
// store and engine:
//
//   baseline     as many minimal WriteFns (one small put) as there are turns, through
//                Store::submit with the same in-flight bound: the group-commit ceiling
//                of this disk (one fdatasync per batch)
//   throughput   closed loop, in-flight <= --inflight events: turns/s, store batches,
//                memory per idle conversation
//   latency      open loop at each of --rates turns/s for --paced-seconds: p50/p99/max
//   shipped      the flow exactly as shipped (double-text debounce on) at --shipped-rate:
//                latency includes the deliberate debounce wait
//   preloaded    (only if asked for) the throughput phase on a store that first gets
//                --preload finished conversations (bench/preload.hpp): RSS growth over
//                the idle store, and turns/s to compare with `throughput` (empty store)
//
// The throughput and latency phases run a copy of the flow with its `double_text` line
// removed: the reference flow holds every text message for debounce_ms (1500 ms) to
// merge double texting, so with it turn latency cannot go below 1.5 s.
//
// TurnReport::latency is accepted (just before Engine::accept) -> turn committed.
// Every phase also reports CPU time per turn by thread (from /proc/self/task/*/schedstat)
// and the time those threads waited for a CPU, which on a shared machine tells how
// much of the wall time was other people's processes.
// Prints one JSON object on stdout; progress on stderr.
//
//   engine_turns [--flow flows/insurance.lua] [--conversations 10000] [--workers 2]
//                [--batch 64] [--paced-batch 8] [--producers 2] [--inflight 4096]
//                [--rates 1000,2500,5000] [--shipped-rate 1000] [--paced-seconds 8]
//                [--phase-timeout 30] [--phases baseline,throughput,latency,shipped]
//                [--preload 1000000] [--preload-timeout 300]
//   engine_turns --phases throughput,preloaded     # the 1M-conversation figures
#include "log/log.hpp"
#include "runtime/channel.hpp"
#include "runtime/clock.hpp"
#include "runtime/engine.hpp"
#include "store/store.hpp"
#include "bench_stats.hpp"
#include "preload.hpp"

#include <malloc.h>
#include <sys/resource.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
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
  fs::path flow = "flows/insurance.lua";
  int conversations = 10'000;
  int workers = 2;
  int batch = 64;              // events per accept() in the closed-loop phase
  int paced_batch = 8;         // events per accept() in the fixed-rate phases
  int producers = 2;
  int inflight = 4096;         // events accepted but not yet committed as a turn (closed loop)
  std::vector<double> rates = {1000, 2500, 5000};  // turns/s offered, one latency phase each
  double shipped_rate = 1000;  // turns/s offered to the flow as shipped
  double paced_seconds = 8;    // length of each fixed-rate phase (events = rate * seconds)
  double phase_timeout_s = 30;
  std::set<std::string> phases = {"baseline", "throughput", "latency", "shipped"};
  std::uint64_t preload = 1'000'000;  // conversations loaded before the `preloaded` phase
  double preload_timeout_s = 300;     // the load stops here, complete or not
};

const std::vector<std::string> kScript = {"hola", "35", "no", "500000", "2"};
constexpr std::uint64_t kUserBase = 5215500000000ull;

// ---------------------------------------------------------------------------------


json store_json(const store::StoreStats& before, const store::StoreStats& after) {
  auto commits = after.commits - before.commits;
  auto writes = after.writes - before.writes;
  json hist = json::object();
  for (std::size_t i = 0; i < after.batch_histogram.size(); ++i) {
    auto n = after.batch_histogram[i] - (i < before.batch_histogram.size() ? before.batch_histogram[i] : 0);
    if (n) hist[std::to_string(1u << i) + "-" + std::to_string((2u << i) - 1)] = n;
  }
  return {{"commits", commits},
          {"writes", writes},
          {"failed_writes", after.failed_writes - before.failed_writes},
          {"writes_per_commit", commits ? static_cast<double>(writes) / static_cast<double>(commits) : 0.0},
          {"max_batch", after.max_batch},
          {"batch_histogram", hist},
          {"map_size_mb", after.map_size >> 20}};
}

// Per-thread scheduler accounting: ns on a CPU and ns runnable but waiting for one
// (the second is how much the other processes on this shared machine cost us).
struct Sched {
  std::uint64_t run_ns = 0, wait_ns = 0;
  Sched& operator+=(const Sched& o) {
    run_ns += o.run_ns;
    wait_ns += o.wait_ns;
    return *this;
  }
};

Sched read_sched(const std::string& path) {
  Sched s;
  std::ifstream in(path);
  in >> s.run_ns >> s.wait_ns;
  return s;
}

Sched thread_sched(int tid) { return read_sched("/proc/self/task/" + std::to_string(tid) + "/schedstat"); }

std::set<int> thread_ids() {
  std::set<int> ids;
  for (auto& e : fs::directory_iterator("/proc/self/task")) ids.insert(std::stoi(e.path().filename().string()));
  return ids;
}

std::set<int> new_ids(const std::set<int>& before, const std::set<int>& after) {
  std::set<int> out;
  for (int t : after)
    if (!before.count(t)) out.insert(t);
  return out;
}

Sched sum_sched(const std::set<int>& tids) {
  Sched s;
  for (int t : tids) s += thread_sched(t);
  return s;
}



double seconds_since(Steady::time_point t) { return std::chrono::duration<double>(Steady::now() - t).count(); }

fs::path make_temp_dir() {
  std::string tmpl = (fs::temp_directory_path() / "charla-bench-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

std::unique_ptr<store::Store> open_store(const fs::path& dir) {
  store::Store::Options o;
  o.dir = dir;
  o.durable = true;
  return store::Store::open(o);
}

// A copy of the flow's directory with the `double_text` line of the flow removed.
fs::path flow_without_debounce(const fs::path& flow, const fs::path& tmp) {
  auto dir = tmp / "flows-no-debounce";
  fs::create_directories(dir);
  for (auto& entry : fs::directory_iterator(flow.parent_path().empty() ? "." : flow.parent_path()))
    if (entry.path().extension() == ".lua") fs::copy_file(entry.path(), dir / entry.path().filename());
  std::ifstream in(flow);
  std::ostringstream out;
  std::string line;
  while (std::getline(in, line)) {
    auto start = line.find_first_not_of(" \t");
    if (start != std::string::npos && line.compare(start, 11, "double_text") == 0) continue;
    out << line << "\n";
  }
  std::ofstream(dir / flow.filename(), std::ios::trunc) << out.str();
  return dir / flow.filename();
}

// ---------------------------------------------------------------------------------
class NullChannel final : public runtime::Channel {
 public:
  std::string name() const override { return "bench"; }
  void dispatch(std::vector<runtime::OutboundRow> rows) override { rows_ += rows.size(); }
  std::atomic<std::uint64_t> rows_{0};
};

// Minimal durable writes (one small put each) through Store::submit, with the same
// in-flight bound as the closed-loop engine phase: the group-commit ceiling.
json run_store_baseline(const Args& a, const fs::path& dir) {
  auto tids_before_store = thread_ids();
  auto store = open_store(dir);
  auto writer_tids = new_ids(tids_before_store, thread_ids());
  const auto writer0 = sum_sched(writer_tids);
  const std::uint64_t total = static_cast<std::uint64_t>(a.conversations) * kScript.size();
  std::mutex m;
  std::condition_variable cv;
  std::uint64_t inflight = 0, done = 0;
  auto before = store->stats();
  auto t0 = Steady::now();
  std::vector<std::uint32_t> lat;
  lat.reserve(total);
  std::mutex lat_m;
  for (std::uint64_t i = 0; i < total; ++i) {
    {
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return inflight < static_cast<std::uint64_t>(a.inflight); });
      ++inflight;
    }
    auto submitted = Steady::now();
    store->submit([i](store::WriteTxn& txn) { txn.put(store::Db::meta, "bench/" + store::be64(i), "x"); },
                  [&, submitted](const std::string&) {
                    auto us = std::chrono::duration_cast<std::chrono::microseconds>(Steady::now() - submitted).count();
                    {
                      std::lock_guard l(lat_m);
                      lat.push_back(static_cast<std::uint32_t>(us));
                    }
                    std::lock_guard lock(m);
                    --inflight;
                    ++done;
                    cv.notify_all();
                  });
  }
  store->flush();
  double secs = seconds_since(t0);
  const auto writer1 = sum_sched(writer_tids);
  auto after = store->stats();
  store->close();
  return {{"writes", total},
          {"writer_thread_cpu_s", static_cast<double>(writer1.run_ns - writer0.run_ns) / 1e9},
          {"us_per_write_writer_thread", static_cast<double>(writer1.run_ns - writer0.run_ns) / 1e3 / static_cast<double>(total)},
          {"seconds", secs},
          {"writes_per_s", static_cast<double>(total) / secs},
          {"inflight_bound", a.inflight},
          {"commit_latency", latency_json(lat)},
          {"store", store_json(before, after)}};
}

// ---------------------------------------------------------------------------------
// Drives conversations through the script. Thread-safe: producers pull ready
// conversations; the turn observer (worker threads) pushes them back.
class Driver {
 public:
  Driver(runtime::Engine& engine, const Args& a, std::string user_prefix)
      : engine_(engine), a_(a), prefix_(std::move(user_prefix)), step_(a.conversations, 0) {
    for (int i = 0; i < a.conversations; ++i) ready_.push_back(i);
    latencies_.reserve(static_cast<std::size_t>(a.conversations) * kScript.size());
  }

  std::string user(int i) const { return prefix_ + std::to_string(kUserBase + static_cast<std::uint64_t>(i)); }

  void on_turn(const runtime::TurnReport& r) {
    if (r.channel != "bench" || r.timer) return;
    int idx = static_cast<int>(std::stoull(r.user.substr(prefix_.size())) - kUserBase);
    {
      std::lock_guard lock(lat_m_);
      latencies_.push_back(static_cast<std::uint32_t>(r.latency.count()));
      if (!r.ok) ++turn_errors_;
    }
    std::lock_guard lock(m_);
    inflight_ -= r.inbox_seqs.size() ? r.inbox_seqs.size() : 1;
    ++turns_;
    if (++step_[idx] < static_cast<int>(kScript.size()))
      ready_.push_back(idx);
    else
      final_states_[r.state]++;
    cv_.notify_all();
  }

  // Closed loop: keep up to a_.inflight events outstanding, batches of up to a_.batch.
  void run_closed(Steady::time_point deadline) {
    std::vector<std::thread> producers;
    for (int p = 0; p < a_.producers; ++p)
      producers.emplace_back([&] {
        struct Note {
          Driver* d;
          ~Note() { d->note_producer_cpu(); }
        } note{this};
        for (;;) {
          std::vector<runtime::InboundEvent> events;
          {
            std::unique_lock lock(m_);
            auto can_take = [&] { return !ready_.empty() && inflight_ < static_cast<std::size_t>(a_.inflight); };
            if (!cv_.wait_until(lock, deadline, [&] { return can_take() || sent_all(); })) return;
            if (sent_all()) return;
            // Linger briefly for a fuller batch, as a webhook body carries what arrived.
            if (ready_.size() < static_cast<std::size_t>(a_.batch))
              cv_.wait_for(lock, std::chrono::milliseconds(1), [&] {
                return ready_.size() >= static_cast<std::size_t>(a_.batch) || sent_all();
              });
            if (!can_take()) continue;
            auto n = std::min({ready_.size(), static_cast<std::size_t>(a_.batch),
                               static_cast<std::size_t>(a_.inflight) - inflight_,
                               static_cast<std::size_t>(limit_ - sent_)});
            events = take(n);
          }
          submit(std::move(events));
        }
      });
    for (auto& t : producers) t.join();
  }

  // Called at the end of each producer thread.
  void note_producer_cpu() {
    auto s = read_sched("/proc/thread-self/schedstat");
    std::lock_guard lock(m_);
    producer_cpu_ += s;
  }
  Sched producer_cpu() {
    std::lock_guard lock(m_);
    return producer_cpu_;
  }

  // Open loop: a batch of up to a_.paced_batch every paced_batch/rate seconds,
  // whatever is ready at that moment.
  void run_paced(Steady::time_point deadline, double rate) {
    std::atomic<std::uint64_t> next_batch{0};
    auto t0 = Steady::now();
    const double interval = a_.paced_batch / rate;
    std::vector<std::thread> producers;
    for (int p = 0; p < a_.producers; ++p)
      producers.emplace_back([&] {
        struct Note {
          Driver* d;
          ~Note() { d->note_producer_cpu(); }
        } note{this};
        for (;;) {
          auto k = next_batch++;
          auto due = t0 + std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(k * interval));
          if (due > deadline) return;
          std::this_thread::sleep_until(due);
          std::vector<runtime::InboundEvent> events;
          {
            std::lock_guard lock(m_);
            if (sent_all()) return;
            if (ready_.empty()) {
              ++starved_;
              continue;
            }
            events = take(std::min({ready_.size(), static_cast<std::size_t>(a_.paced_batch),
                                    static_cast<std::size_t>(limit_ - sent_)}));
          }
          submit(std::move(events));
        }
      });
    for (auto& t : producers) t.join();
  }

  // After the producers returned: waits for the turns of every event sent.
  bool wait_all_turns(Steady::time_point deadline) {
    std::unique_lock lock(m_);
    return cv_.wait_until(lock, deadline, [&] { return turns_ == sent_; });
  }

  // Caps the events sent (fixed-rate phases send rate * seconds).
  void limit_events(std::uint64_t n) { limit_ = std::min(limit_, n); }
  std::uint64_t total() const { return limit_; }
  std::uint64_t turns() {
    std::lock_guard lock(m_);
    return turns_;
  }
  std::vector<std::uint32_t> latencies() {
    std::lock_guard lock(lat_m_);
    return latencies_;
  }
  json summary() {
    std::lock_guard lock(m_);
    std::lock_guard lock2(lat_m_);
    return {{"turns", turns_}, {"turns_expected", total()}, {"turn_errors", turn_errors_},
            {"events_sent", sent_}, {"accept_calls", accept_calls_}, {"accept_errors", accept_errors_.load()},
            {"duplicates", duplicates_.load()}, {"final_states", final_states_}, {"paced_slots_starved", starved_}};
  }

 private:
  bool sent_all() const { return sent_ >= limit_; }

  // Under m_.
  std::vector<runtime::InboundEvent> take(std::size_t n) {
    std::vector<runtime::InboundEvent> events;
    events.reserve(n);
    auto now = Steady::now();
    for (std::size_t k = 0; k < n; ++k) {
      int idx = ready_.front();
      ready_.pop_front();
      const auto& text = kScript[static_cast<std::size_t>(step_[idx])];
      runtime::InboundEvent e;
      e.channel = "bench";
      e.account = "100000000000001";
      e.user = user(idx);
      e.conversation = runtime::conversation_key(e.channel, e.account, e.user);
      e.name = "Cliente Bench";
      e.dedup_id = "wamid.bench." + prefix_ + std::to_string(idx) + "." + std::to_string(step_[idx]);
      json raw{{"from", e.user}, {"id", e.dedup_id}, {"timestamp", "1793000000"}, {"type", "text"},
               {"text", {{"body", text}}}};
      e.payload = {{"id", e.dedup_id}, {"type", "text"}, {"from", e.user}, {"wa_id", e.user},
                   {"name", e.name}, {"timestamp", 1793000000}, {"text", text}, {"raw", std::move(raw)}};
      e.accepted_at = now;
      events.push_back(std::move(e));
    }
    inflight_ += n;
    sent_ += n;
    ++accept_calls_;
    return events;
  }

  void submit(std::vector<runtime::InboundEvent> events) {
    // accepted_at is reset here so latency starts at the accept() call.
    auto now = Steady::now();
    for (auto& e : events) e.accepted_at = now;
    engine_.accept(std::move(events), [this](const runtime::AcceptResult& r) {
      if (!r.error.empty()) ++accept_errors_;
      duplicates_ += r.duplicates;
    });
  }

  runtime::Engine& engine_;
  const Args& a_;
  std::string prefix_;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<int> ready_;
  std::vector<int> step_;
  std::size_t inflight_ = 0;
  std::uint64_t sent_ = 0, turns_ = 0, accept_calls_ = 0, starved_ = 0;
  std::map<std::string, std::uint64_t> final_states_;
  std::atomic<std::uint64_t> accept_errors_{0}, duplicates_{0};
  std::mutex lat_m_;
  std::vector<std::uint32_t> latencies_;
  std::uint64_t turn_errors_ = 0;
  Sched producer_cpu_;
  std::uint64_t limit_ = static_cast<std::uint64_t>(a_.conversations) * kScript.size();
};

enum class Mode { closed, paced };

// Loads `n` conversations (bench/preload.hpp) into a store nothing else uses yet, and
// reports the RSS growth over the idle store once the load has settled.
json preload_store(const Args& a, store::Store& store, std::uint64_t n) {
  std::cerr << "engine_turns: preloading " << n << " conversations...\n";
  malloc_trim(0);
  const auto idle = read_rss();
  const auto deadline = Steady::now() + std::chrono::duration_cast<Steady::duration>(
                                            std::chrono::duration<double>(a.preload_timeout_s));
  const auto load_start = loadavg();
  auto r = preload_conversations(store, n, deadline);
  store.flush();
  std::this_thread::sleep_for(std::chrono::seconds(1));  // idle again
  const auto loaded = read_rss();
  malloc_trim(0);
  const auto trimmed = read_rss();
  const double per = r.conversations ? 1024.0 / static_cast<double>(r.conversations) : 0;
  std::error_code ec;
  const auto bytes = fs::file_size(store.options().dir / "data.mdb", ec);
  std::cerr << "engine_turns: preloaded " << r.conversations << " in " << r.seconds << " s\n";
  return {{"conversations", r.conversations},
          {"complete", r.complete},
          {"error", r.error},
          {"seconds", r.seconds},
          {"conversations_per_s", r.seconds > 0 ? static_cast<double>(r.conversations) / r.seconds : 0},
          {"loadavg_at_start", load_start},
          {"data_mdb_bytes", ec ? 0 : bytes},
          {"rss_idle_before", rss_json(idle)},
          {"rss_idle_after", rss_json(loaded)},
          {"rss_idle_after_malloc_trim", rss_json(trimmed)},
          {"rss_growth_mib", static_cast<double>(trimmed.total_kb - idle.total_kb) / 1024.0},
          {"anon_growth_mib", static_cast<double>(trimmed.anon_kb - idle.anon_kb) / 1024.0},
          {"file_growth_mib", static_cast<double>(trimmed.file_kb - idle.file_kb) / 1024.0},
          {"rss_bytes_per_conversation", static_cast<double>(trimmed.total_kb - idle.total_kb) * per}};
}

json run_engine_phase(const Args& a, const fs::path& dir, const fs::path& flow, Mode mode, double rate,
                      bool measure_memory, std::uint64_t preload = 0) {
  auto tids_before_store = thread_ids();
  auto store = open_store(dir);
  auto writer_tids = new_ids(tids_before_store, thread_ids());
  json preloaded;
  if (preload > 0) preloaded = preload_store(a, *store, preload);
  runtime::SystemClock clock;
  runtime::EngineOptions o;
  o.workers = a.workers;
  o.flows = {flow};
  runtime::Engine engine(o, *store, clock);
  NullChannel channel;
  engine.add_channel(channel);
  Driver driver(engine, a, "");
  if (mode == Mode::paced) driver.limit_events(static_cast<std::uint64_t>(rate * a.paced_seconds));
  engine.add_turn_observer([&](const runtime::TurnReport& r) { driver.on_turn(r); });
  auto tids_before_engine = thread_ids();
  engine.start();
  auto engine_tids = new_ids(tids_before_engine, thread_ids());  // workers + timer poller
  const auto* info = engine.flow(engine.default_flow());
  malloc_trim(0);
  auto rss_before = read_rss();
  auto before = store->stats();

  const auto load_start = loadavg();
  const auto writer0 = sum_sched(writer_tids), engine0 = sum_sched(engine_tids);
  const double cpu0 = process_cpu_s();
  auto t0 = Steady::now();
  auto deadline = t0 + std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(a.phase_timeout_s));
  if (mode == Mode::closed)
    driver.run_closed(deadline);
  else
    driver.run_paced(deadline, rate);
  bool complete = driver.wait_all_turns(deadline + std::chrono::seconds(5));
  double secs = seconds_since(t0);
  auto turns = driver.turns();
  const double cpu1 = process_cpu_s();
  auto writer1 = sum_sched(writer_tids), engine1 = sum_sched(engine_tids);
  auto producers = driver.producer_cpu();
  store->flush();
  auto after = store->stats();
  auto stats = engine.stats();

  json out{{"mode", mode == Mode::closed ? "closed_loop" : "fixed_rate"},
           {"flow", flow.string()},
           {"double_text_debounce_ms", info ? info->double_text_debounce_ms : -1},
           {"conversations", a.conversations},
           {"workers", a.workers},
           {"producers", a.producers},
           {"batch", mode == Mode::closed ? a.batch : a.paced_batch},
           {"complete", complete},
           {"seconds", secs},
           {"turns_per_s", static_cast<double>(turns) / secs},
           {"latency", latency_json(driver.latencies())},
           {"driver", driver.summary()},
           {"outbound_rows_dispatched", channel.rows_.load()},
           {"engine", {{"accepted", stats.accepted}, {"turns", stats.turns}, {"turn_errors", stats.turn_errors},
                       {"commit_failures", stats.commit_failures}}},
           {"store", store_json(before, after)}};
  {
    const double n = turns ? static_cast<double>(turns) : 1;
    const double writer_us = static_cast<double>(writer1.run_ns - writer0.run_ns) / 1e3 / n;
    const double engine_us = static_cast<double>(engine1.run_ns - engine0.run_ns) / 1e3 / n;
    out["cpu"] = {
        {"loadavg_at_start", load_start},
        {"loadavg_at_end", loadavg()},
        {"process_cpu_s", cpu1 - cpu0},
        {"process_cores_used", (cpu1 - cpu0) / secs},
        {"writer_thread_cpu_s", static_cast<double>(writer1.run_ns - writer0.run_ns) / 1e9},
        {"writer_thread_runqueue_wait_s", static_cast<double>(writer1.wait_ns - writer0.wait_ns) / 1e9},
        {"worker_threads_cpu_s", static_cast<double>(engine1.run_ns - engine0.run_ns) / 1e9},
        {"worker_threads_runqueue_wait_s", static_cast<double>(engine1.wait_ns - engine0.wait_ns) / 1e9},
        {"producer_threads_cpu_s", static_cast<double>(producers.run_ns) / 1e9},
        {"us_per_turn_process", (cpu1 - cpu0) * 1e6 / n},
        {"us_per_turn_writer_thread", writer_us},
        {"us_per_turn_worker_threads", engine_us},
        // Not a measurement: what these CPU costs would allow with two otherwise idle
        // cores (the writer is one thread; writer + workers share the two cores).
        {"projected_turns_per_s_2_idle_cores",
         std::min(1e6 / std::max(writer_us, 1e-9), 2e6 / std::max(writer_us + engine_us, 1e-9))}};
  }
  if (preload > 0) {
    preloaded["rss_after_phase"] = rss_json(read_rss());
    out["preload"] = preloaded;
  }
  if (mode == Mode::closed) out["inflight_bound"] = a.inflight;
  else out["offered_rate"] = rate;

  if (measure_memory) {
    // Every conversation is idle now (no mailbox, record possibly in the LRU cache).
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto rss_after = read_rss();
    malloc_trim(0);
    auto rss_trimmed = read_rss();
    const std::size_t cache_bound = o.conversation_cache * static_cast<std::size_t>(a.workers);
    auto per = [&](long kb) { return kb * 1024.0 / a.conversations; };
    out["memory"] = {
        {"before", rss_json(rss_before)},
        {"after_idle", rss_json(rss_after)},
        {"after_idle_malloc_trim", rss_json(rss_trimmed)},
        {"anon_bytes_per_idle_conversation", per(rss_trimmed.anon_kb - rss_before.anon_kb)},
        {"file_bytes_per_idle_conversation", per(rss_trimmed.file_kb - rss_before.file_kb)},
        {"lru_cache_bound_records", cache_bound},
        {"anon_bytes_per_cached_record",
         (rss_trimmed.anon_kb - rss_before.anon_kb) * 1024.0 /
             static_cast<double>(std::min<std::size_t>(cache_bound, static_cast<std::size_t>(a.conversations)))},
        {"history_limit", o.history_limit}};
  }
  engine.stop();
  store->close();
  return out;
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument("missing value for " + k);
      return argv[++i];
    };
    if (k == "--flow") a.flow = next();
    else if (k == "--conversations") a.conversations = std::stoi(next());
    else if (k == "--workers") a.workers = std::stoi(next());
    else if (k == "--batch") a.batch = std::stoi(next());
    else if (k == "--paced-batch") a.paced_batch = std::stoi(next());
    else if (k == "--producers") a.producers = std::stoi(next());
    else if (k == "--inflight") a.inflight = std::stoi(next());
    else if (k == "--rates") {
      a.rates.clear();
      std::stringstream list(next());
      for (std::string r; std::getline(list, r, ',');) a.rates.push_back(std::stod(r));
    } else if (k == "--shipped-rate") a.shipped_rate = std::stod(next());
    else if (k == "--paced-seconds") a.paced_seconds = std::stod(next());
    else if (k == "--phases") {
      a.phases.clear();
      std::stringstream list(next());
      for (std::string r; std::getline(list, r, ',');) a.phases.insert(r);
    }
    else if (k == "--phase-timeout") a.phase_timeout_s = std::stod(next());
    else if (k == "--preload") a.preload = std::stoull(next());
    else if (k == "--preload-timeout") a.preload_timeout_s = std::stod(next());
    else if (k[0] != '-') a.flow = k;
    else
      throw std::invalid_argument(
          "usage: engine_turns [FLOW] [--conversations N] [--workers N] [--batch N] [--paced-batch N] "
          "[--producers N] [--inflight N] [--rates R1,R2,..] [--shipped-rate R] [--paced-seconds S] "
          "[--phase-timeout S] [--phases baseline,throughput,latency,shipped,preloaded] [--preload N] "
          "[--preload-timeout S]");
  }
  if (a.conversations < 1 || a.batch < 1 || a.paced_batch < 1 || a.producers < 1 || a.inflight < 1 ||
      a.paced_seconds <= 0 || a.shipped_rate <= 0 || std::ranges::any_of(a.rates, [](double r) { return r <= 0; }))
    throw std::invalid_argument("numeric flags must be positive");
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  try {
    a = parse(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  if (!fs::exists(a.flow)) {
    std::cerr << "engine_turns: flow " << a.flow << " not found (pass the path to flows/insurance.lua)\n";
    return 2;
  }
  log::set_level(log::Level::warn);
  auto tmp = make_temp_dir();
  json out{{"bench", "engine_turns"}, {"hardware_concurrency", std::thread::hardware_concurrency()}};
  int rc = 0;
  try {
    auto fast_flow = flow_without_debounce(a.flow, tmp);
    if (a.phases.count("baseline")) {
      std::cerr << "engine_turns: store baseline...\n";
      out["store_baseline"] = run_store_baseline(a, tmp / "store-baseline");
    }
    if (a.phases.count("throughput")) {
      std::cerr << "engine_turns: throughput (closed loop)...\n";
      out["throughput"] = run_engine_phase(a, tmp / "store-throughput", fast_flow, Mode::closed, 0, true);
    }
    if (a.phases.count("latency")) {
      out["latency"] = json::array();
      int i = 0;
      for (double rate : a.rates) {
        std::cerr << "engine_turns: latency (fixed rate " << rate << " turns/s)...\n";
        out["latency"].push_back(
            run_engine_phase(a, tmp / ("store-latency-" + std::to_string(i++)), fast_flow, Mode::paced, rate, false));
      }
    }
    if (a.phases.count("shipped")) {
      std::cerr << "engine_turns: shipped flow (debounce on, fixed rate " << a.shipped_rate << ")...\n";
      out["shipped_flow"] =
          run_engine_phase(a, tmp / "store-shipped", fs::absolute(a.flow), Mode::paced, a.shipped_rate, false);
    }
    if (a.phases.count("preloaded")) {
      std::cerr << "engine_turns: throughput (closed loop) with preloaded conversations...\n";
      out["preloaded"] = run_engine_phase(a, tmp / "store-preloaded", fast_flow, Mode::closed, 0, true, a.preload);
      if (out.contains("throughput"))
        out["ratio_preloaded_to_empty_turns_per_s"] =
            out["preloaded"]["turns_per_s"].get<double>() / out["throughput"]["turns_per_s"].get<double>();
    }
    if (out.contains("store_baseline") && out.contains("throughput")) {
      double base = out["store_baseline"]["writes_per_s"];
      out["ratio_turns_per_s_to_store_writes_per_s"] = out["throughput"]["turns_per_s"].get<double>() / base;
    }
  } catch (const std::exception& e) {
    std::cerr << "engine_turns: " << e.what() << "\n";
    out["error"] = e.what();
    rc = 1;
  }
  std::error_code ec;
  fs::remove_all(tmp, ec);
  std::cout << out.dump(2) << std::endl;
  return rc;
}
