#pragma once
// FlowHost: one lua_State per worker with every flow loaded, running turns as
// coroutines. Not thread-safe: a FlowHost belongs to exactly one worker thread and
// is only used from that worker's io_context.
//
// A turn is one event (inbound message or timer) applied to one conversation. The
// host runs the flow's handlers, collects the effects (outbound messages, new state,
// data, timer changes, logs) and hands them back in a TurnResult. It never touches
// the store: the runtime commits the result in one transaction.
//
// Invariants:
//  - A turn that fails (Lua error, instruction budget, memory cap, non-JSON data,
//    transition loop) returns ok=false and no effects except `error`; the caller keeps
//    the old state and sends the fallback.
//  - A flow's own pcall cannot swallow a budget or memory overrun.
//  - ctx and msg objects captured by a flow are dead after their turn: using them
//    raises a clear error instead of touching freed memory.
//  - A plugin completion for a turn that already ended (timeout, shutdown) is dropped.
#include "plugin/plugin.hpp"

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace charla::lua {

// Raised at load time; what() reads "flows/x.lua:12: states.FOO.mesage: unknown handler 'mesage'".
class FlowError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A state change a handler makes with a literal state name (`return "X"`,
// `ctx:go("X")`). Names computed at run time are invisible to the loader, so the
// transitions of a flow are a lower bound: `charla graph` draws them and
// `charla check` warns about states no literal transition reaches.
struct Transition {
  std::string from;     // empty: a flow-level handler (timers, migrate), any state
  std::string to;
  std::string handler;  // enter, message, leave, timeout.run, timers.NAME, migrate
  int line = 0;         // of the literal; inside a local helper when `via` is set
  std::string via;      // the local helper function the handler reached it through, or empty
};

struct FlowInfo {
  std::string name;
  std::int64_t version = 1;
  std::string initial;
  std::filesystem::path file;
  std::vector<std::string> states;
  std::map<std::string, std::int64_t> state_timeout_ms;  // states with `timeout = {after=...}`
  std::int64_t double_text_debounce_ms = 0;               // 0: off
  std::string fallback;         // flow's `fallback` text, empty: use HostOptions::fallback_text
  std::string llm_fallback;     // flow's `llm_fallback` text
  nlohmann::json window_template;  // flow's `window_template` table as JSON, or null
  std::vector<Transition> transitions;  // in file order
  std::map<std::string, int> state_lines;  // line of each state's key, for check messages
  std::vector<std::string> final_states;   // states marked `final = true` (the conversation ends there)
  std::string timezone = "UTC";            // flow's `timezone` (IANA name), for ctx:clock and open_hours
};

struct HostOptions {
  std::uint64_t instruction_budget = 10'000'000;  // Lua VM instructions per turn, library work included
  std::size_t memory_limit = 64u << 20;           // bytes per lua_State
  std::string fallback_text = "Lo siento, tuve un problema. ¿Puedes intentarlo de nuevo?";
  int max_transitions = 16;                       // transitions chained within one turn
  std::chrono::milliseconds turn_time_budget{20'000};  // wall time incl. plugin calls, checked while Lua runs
  std::size_t history_limit = 50;                 // entries exposed through ctx:history
  // Per-flow settings (config `flow_settings`): flow name -> JSON object, read by the
  // flow as the read-only table ctx.settings (empty for flows not listed).
  std::map<std::string, nlohmann::json> flow_settings;
};

struct TimerOp {
  enum class Kind { set, cancel } kind = Kind::set;
  std::string name;             // "__timeout" is the state inactivity timeout
  std::int64_t due_ms = 0;      // wall-clock ms since epoch (set only)
  nlohmann::json payload;       // optional (set only)
};

struct TurnInput {
  std::uint64_t turn_id = 0;    // unique per turn, for logs
  std::string conversation;     // conversation key
  std::string channel;          // "whatsapp", "console"
  std::string phone;            // the customer's address (wa_id / BSUID)
  std::string name;             // the customer's profile name, may be empty
  std::string flow;             // flow name
  std::string state;            // empty: new conversation -> initial state, run enter
  nlohmann::json data = nlohmann::json::object();
  // {"kind":"message","msg":{...}} or {"kind":"timer","name":"...","payload":...}, or
  // {"kind":"enter"}: run `enter` of `state` (an operator moved the conversation there)
  nlohmann::json event;
  // Recent entries, oldest first (null: none). Shared, not copied: the worker's cached
  // record, the turn and its plugin calls read the same array, which nobody changes
  // while a turn holds it.
  std::shared_ptr<const nlohmann::json> history;
  std::int64_t now_ms = 0;      // wall clock at turn start (fake in tests)
  // Channel-specific limits check for an outbound message; returns an error text or nullopt.
  std::function<std::optional<std::string>(const nlohmann::json&)> validate_outbound;
};

// A business event a flow emitted with ctx:emit (name like "lead.qualified", payload a
// JSON object). Committed with its turn; see runtime/event_log.hpp for delivery.
struct EmittedEvent {
  std::string name;
  nlohmann::json payload;
};

struct TurnResult {
  bool ok = false;
  std::string error;            // with file:line when it comes from Lua
  // "lua_error", "budget" (instructions or wall time used while running), "memory",
  // "data", "transitions", "time" (wall time ran out while waiting for a plugin call)
  std::string error_kind;
  std::string state;            // state after the turn
  nlohmann::json data;          // ctx.data after the turn
  std::vector<nlohmann::json> outbound;  // channel-neutral messages, in order
  std::vector<TimerOp> timers;
  std::vector<std::string> transitions;  // states entered, in order
  std::optional<std::string> handoff;    // ctx:handoff(reason) was called
  std::vector<EmittedEvent> emitted;     // ctx:emit calls, in order
  std::uint64_t instructions = 0;        // approx. instructions used
  bool llm_failed = false;               // failed turns: a ctx:llm call had returned nil, err
};

class FlowHost {
 public:
  using Done = std::function<void(TurnResult)>;

  FlowHost(boost::asio::io_context& io, HostOptions options);
  // Drops suspended turns without calling their Done: call cancel_all() first.
  ~FlowHost();
  FlowHost(const FlowHost&) = delete;
  FlowHost& operator=(const FlowHost&) = delete;

  // Loads and validates a flow file; throws FlowError naming file:line. `require` in
  // the flow resolves modules in the flow file's directory only.
  // The returned reference stays valid until a flow with the same name is loaded again.
  const FlowInfo& load_flow(const std::filesystem::path& file);
  // Hot reload: loads every file, then replaces the whole set at once (flows not among
  // them are dropped). If any file fails, throws FlowError and nothing changes. Turns
  // running keep the version they started with.
  std::vector<FlowInfo> replace_flows(const std::vector<std::filesystem::path>& files);
  const FlowInfo* flow(const std::string& name) const;
  std::vector<std::string> flow_names() const;

  // Makes ctx:<method> call this plugin. The plugin must outlive the host.
  void register_plugin(Plugin& plugin);

  // Runs one turn. Calls done exactly once: synchronously if the turn never yields,
  // otherwise later on the io_context.
  void run_turn(TurnInput input, Done done);

  // Ends every suspended turn with error_kind "time" ("shutting down").
  void cancel_all();

  std::size_t suspended_turns() const;
  std::size_t memory_in_use() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace charla::lua
