#pragma once
// Scripted plugins for `charla test`: ctx:llm and ctx:http answered from the test's
// script instead of the network. They go in through the product's own Plugin seam
// (plugin/plugin.hpp), so the flow runs the same yield/resume path as in `serve`.
//
// Invariants:
//  - Scripted replies of a method are consumed in the order the test added them; a
//    call takes the first one whose `match` it satisfies (a plain substring of the
//    prompt for llm, of the URL for http; no match: any call).
//  - A call with no scripted reply is recorded (method and arguments) and answered
//    nil, {code="unscripted"}; the runner fails the test with it after the turn.
//  - The Script is shared by every worker's plugin instance; all access is locked.
#include "plugin/plugin.hpp"

#include <nlohmann/json.hpp>

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace charla::flowtest {

struct ScriptedReply {
  std::string method;       // "llm" or "http"
  std::string match;        // empty: any call
  PluginReply reply;
};

struct PluginCallRecord {
  std::string method;
  nlohmann::json args;
  bool scripted = false;
  std::string answer;       // one line: what the script answered
};

class Script {
 public:
  void add(ScriptedReply reply);
  // Takes the reply for a call (see the invariants); records the call either way.
  PluginReply answer(const std::string& method, const nlohmann::json& args);
  // Calls recorded since the last take, in order.
  std::vector<PluginCallRecord> take_calls();
  std::size_t pending() const;  // scripted replies not consumed yet
  std::vector<ScriptedReply> unused() const;

 private:
  mutable std::mutex mutex_;
  std::deque<ScriptedReply> replies_;
  std::vector<PluginCallRecord> calls_;
};

// The text a call is matched against: the llm prompt (with system and messages), the http URL.
std::string match_subject(const std::string& method, const nlohmann::json& args);

// Registers (once) the plugin factory the test engines name in EngineOptions::plugins
// and returns that name; the config block {"script": id, "methods": [...]} picks the
// Script, which must stay registered (register_script) while its engine runs.
std::string scripted_plugin_name();
std::uint64_t register_script(std::shared_ptr<Script> script);
void unregister_script(std::uint64_t id);

}  // namespace charla::flowtest
