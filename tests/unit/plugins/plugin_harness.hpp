#pragma once
// Drives a plugin the way a worker does: one io_context run by the test, plugins
// built through the registry, replies captured with the number of times done ran.
#include "plugin/plugin.hpp"
#include "support/io_loop.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <list>
#include <memory>
#include <optional>
#include <string>

namespace charla::test {

using Clock = std::chrono::steady_clock;

inline std::unique_ptr<Plugin> make_plugin(const std::string& name, boost::asio::io_context& io, const nlohmann::json& config) {
  const PluginFactory* factory = PluginRegistry::instance().find(name);
  REQUIRE(factory != nullptr);
  return (*factory)(io, config);
}

inline PluginCall make_call(std::string method, nlohmann::json args, std::chrono::milliseconds budget = std::chrono::seconds(20),
                            std::string flow = "insurance") {
  PluginCall c;
  c.method = std::move(method);
  c.args = std::move(args);
  c.flow = std::move(flow);
  c.conversation = "whatsapp:123:5215550001";
  c.deadline = Clock::now() + budget;
  return c;
}

// The outcome of one plugin call.
struct Outcome {
  int calls = 0;  // how many times done ran: must end up 1
  PluginReply reply;
  Clock::time_point started = Clock::now();
  Clock::time_point finished;

  PluginDone done() {
    return [this](PluginReply r) {
      ++calls;
      reply = std::move(r);
      finished = Clock::now();
    };
  }
  bool ok() const { return calls == 1 && reply.argument_error.empty() && reply.error.is_null(); }
  std::string code() const { return reply.error.is_object() ? reply.error.value("code", "") : ""; }
  std::string message() const { return reply.error.is_object() ? reply.error.value("message", "") : ""; }
  long long ms() const { return std::chrono::duration_cast<std::chrono::milliseconds>(finished - started).count(); }
};

// Starts `n` llm calls at once ("pregunta <i>") and runs the loop until all have answered.
inline std::list<Outcome> call_many(boost::asio::io_context& io, Plugin& plugin, int n) {
  std::list<Outcome> outs;
  for (int i = 0; i < n; ++i) {
    outs.emplace_back();
    plugin.call(make_call("llm", {{"prompt", "pregunta " + std::to_string(i)}}), outs.back().done());
  }
  REQUIRE(run_until(io, [&] {
    return std::all_of(outs.begin(), outs.end(), [](const Outcome& o) { return o.calls > 0; });
  }, std::chrono::seconds(20)));
  return outs;
}

}  // namespace charla::test
