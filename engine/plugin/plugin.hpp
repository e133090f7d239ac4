#pragma once
// The seam between flows and the outside world. A plugin exposes one or more ctx
// methods (ctx:llm, ctx:http, ...). Arguments and results cross as JSON so plugins
// never touch Lua. A plugin call is asynchronous: the turn's coroutine yields and is
// resumed on its worker when `done` is invoked (possibly later, on the same
// io_context). The Lua host drops a completion whose turn has already ended.
//
// Error channels (STYLE.md): argument errors -> PluginReply::argument_error, raised in
// Lua with file:line; expected failures -> PluginReply::error, returned as nil, err.
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace charla {

struct PluginReply {
  nlohmann::json value;           // returned to Lua when error and argument_error are empty
  nlohmann::json error;           // {code=, message=} returned as nil, err
  std::string argument_error;     // non-empty: raised as a Lua error at the call site
  static PluginReply ok(nlohmann::json v) { return {std::move(v), nullptr, {}}; }
  static PluginReply fail(std::string code, std::string message) {
    return {nullptr, nlohmann::json{{"code", std::move(code)}, {"message", std::move(message)}}, {}};
  }
  static PluginReply bad_argument(std::string why) { return {nullptr, nullptr, std::move(why)}; }
};

// What a plugin knows about the call it serves.
struct PluginCall {
  std::string method;              // "llm", "http", ...
  nlohmann::json args;             // the Lua table, converted to JSON
  std::string flow;                // flow name, for per-flow policy (allow-lists)
  std::string conversation;        // conversation key, for logs
  std::chrono::steady_clock::time_point deadline;  // turn's remaining time budget
  // The conversation's recent history, oldest first (null: none); shared with the
  // turn, so a call waiting on a provider holds no copy of it.
  std::shared_ptr<const nlohmann::json> history;
};

using PluginDone = std::function<void(PluginReply)>;

// One plugin instance per worker: it runs its I/O on that worker's io_context.
class Plugin {
 public:
  virtual ~Plugin() = default;
  virtual std::vector<std::string> methods() const = 0;
  // Must not block. Calls done exactly once, never from inside call() itself
  // (post to the io_context instead) so the Lua host can yield first.
  virtual void call(PluginCall call, PluginDone done) = 0;
  // Cancels every in-flight call; their done callbacks are invoked with an error or dropped.
  virtual void shutdown() {}
};

// Registration by name: a plugin directory registers a factory at static-init time;
// the CLI instantiates the plugins whose name appears under "plugins" in config.
using PluginFactory =
    std::function<std::unique_ptr<Plugin>(boost::asio::io_context& io, const nlohmann::json& config)>;

class PluginRegistry {
 public:
  static PluginRegistry& instance();
  void add(std::string name, PluginFactory factory);
  const PluginFactory* find(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, PluginFactory> factories_;
};

struct PluginRegistrar {
  PluginRegistrar(std::string name, PluginFactory factory) {
    PluginRegistry::instance().add(std::move(name), std::move(factory));
  }
};

}  // namespace charla
