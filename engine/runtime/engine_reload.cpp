// Hot reload of the flows (POST /admin/flows/reload, SIGHUP). All or nothing: every
// file is loaded first into a scratch Lua state; only when all load (the loader's
// checks included) do the workers swap, each between two of its turns. A turn that is
// running (or waiting on a plugin) keeps the version it started with.
#include "log/log.hpp"
#include "runtime/engine.hpp"
#include "runtime/event_log.hpp"
#include "runtime/worker.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>

namespace charla::runtime {

using nlohmann::json;

namespace {

// Tells two versions of a file apart in /admin/status even when `version` was not bumped.
std::string file_digest(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::uint64_t h = 1469598103934665603ull;
  char c;
  while (in.get(c)) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

}  // namespace

void Worker::reload(std::vector<std::filesystem::path> files, ReloadDone done) {
  boost::asio::post(io_, [this, files = std::move(files), done = std::move(done)] {
    try {
      auto infos = host_->replace_flows(files);
      loaded_flows_ = infos;
      done(std::move(infos), {});
    } catch (const std::exception& e) {
      done({}, e.what());
    }
  });
}

void Engine::install_generation(std::vector<lua::FlowInfo> flows) {
  auto g = std::make_unique<FlowGeneration>();
  g->loaded_ms = clock_.now_ms();
  for (auto& f : flows) g->digests.push_back(file_digest(f.file));
  g->flows = std::move(flows);
  std::lock_guard lock(flows_mutex_);
  g->number = generations_.empty() ? 1 : generations_.back()->number + 1;
  generations_.push_back(std::move(g));
}

std::vector<std::string> Engine::check_flow_set(const std::vector<lua::FlowInfo>& flows) const {
  std::vector<std::string> errors;
  std::vector<std::string> names;
  for (auto& f : flows) names.push_back(f.name);
  if (!options_.default_flow.empty() && std::find(names.begin(), names.end(), options_.default_flow) == names.end())
    errors.push_back("default flow '" + options_.default_flow + "' is not among the loaded flows");
  for (auto& check : flow_checks_) {
    try {
      check(names);
    } catch (const std::exception& e) {
      errors.push_back(e.what());
    }
  }
  return errors;
}

void Engine::reload_flows(std::function<void(const ReloadResult&)> done) {
  ReloadResult refused;
  refused.generation = flow_generation().number;
  if (!running_) {
    refused.errors.push_back("engine is not running");
    return done(refused);
  }
  if (reloading_.exchange(true)) {
    refused.errors.push_back("a reload is already running; try again when it has finished");
    return done(refused);
  }
  std::vector<lua::FlowInfo> infos;
  {
    boost::asio::io_context scratch_io;
    lua::FlowHost scratch(scratch_io, options_.host);
    for (const auto& file : options_.flows) {
      try {
        infos.push_back(scratch.load_flow(file));
      } catch (const std::exception& e) {
        refused.errors.push_back(e.what());
      }
    }
  }
  if (refused.errors.empty()) refused.errors = check_flow_set(infos);
  if (!refused.errors.empty()) {
    log::error("flows_reload_refused", {{"errors", refused.errors}, {"generation", refused.generation}});
    reloading_ = false;
    return done(refused);
  }

  struct Pending {
    std::mutex mutex;
    std::size_t left = 0;
    std::vector<std::string> errors;
    std::vector<lua::FlowInfo> loaded;
  };
  auto pending = std::make_shared<Pending>();
  pending->left = workers_.size();
  for (auto& w : workers_) {
    const int index = static_cast<int>(&w - &workers_.front());
    w->reload(options_.flows, [this, pending, done, index](std::vector<lua::FlowInfo> loaded, const std::string& error) {
      {
        std::lock_guard lock(pending->mutex);
        if (!error.empty())
          pending->errors.push_back("worker " + std::to_string(index) + " kept its flows: " + error);
        else if (pending->loaded.empty())
          pending->loaded = std::move(loaded);
        if (--pending->left > 0) return;
      }
      ReloadResult r;
      if (pending->errors.empty()) {
        install_generation(std::move(pending->loaded));
        r.ok = true;
      } else {
        // Only when a file changed between the check and the swap: say so plainly.
        pending->errors.push_back("a flow file changed during the reload, so workers may run different versions; "
                                  "fix the file and reload again");
        r.errors = pending->errors;
      }
      r.generation = flow_generation().number;
      if (r.ok)
        log::info("flows_reloaded", {{"generation", r.generation}, {"flows", flow_names()}});
      else
        log::error("flows_reload_failed", {{"errors", r.errors}, {"generation", r.generation}});
      reloading_ = false;
      done(r);
    });
  }
}

json Engine::flows_status() const {
  const auto& g = flow_generation();
  json flows = json::array();
  for (std::size_t i = 0; i < g.flows.size(); ++i) {
    const auto& f = g.flows[i];
    flows.push_back({{"name", f.name}, {"version", f.version}, {"file", f.file.string()},
                     {"digest", i < g.digests.size() ? g.digests[i] : std::string()}, {"states", f.states.size()}});
  }
  return {{"generation", g.number}, {"reloads", g.number - 1}, {"loaded_ms", g.loaded_ms},
          {"loaded_at", iso8601_utc(g.loaded_ms)}, {"flows", flows}};
}

}  // namespace charla::runtime
