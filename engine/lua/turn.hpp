#pragma once
// One turn: one event applied to one conversation, run in its own coroutine.
//
// Lifecycle (turn.cpp): run_turn builds the coroutine, ctx, msg and data under
// lua_pcall, then the driver (turn_driver.cpp) calls handlers one at a time by
// resuming the coroutine with a handler on its stack. A handler that calls a plugin
// yields; the turn is then "suspended" until the plugin replies or the wall-time
// deadline fires. complete() releases every Lua reference before calling Done, so
// a finished turn costs nothing and its ctx/msg are dead.
#include "lua/flow_record.hpp"
#include "lua/host.hpp"

#include <boost/asio/steady_timer.hpp>
#include <lua.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace charla::lua::detail {

enum class Phase { begin, migrate, enter, event, leave, finish };

struct Turn {
  std::uint64_t generation = 0;
  TurnInput input;  // data and event are released once converted to Lua
  FlowHost::Done done;
  std::shared_ptr<const FlowRecord> flow;
  std::chrono::steady_clock::time_point started;
  Budget budget;

  lua_State* co = nullptr;  // anchored by co_ref
  int co_ref = LUA_NOREF;
  int ctx_ref = LUA_NOREF;
  int msg_ref = LUA_NOREF;      // message events
  int payload_ref = LUA_NOREF;  // timer events
  int handlers_ref = LUA_NOREF;
  int old_state_ref = LUA_NOREF;  // argument of the flow's migrate hook
  bool timer_event = false;
  bool enter_event = false;     // {"kind":"enter"}: run the current state's enter, no event handler
  std::string timer_name;
  std::string msg_id;           // the inbound message's id, for react/mark_read

  // Driver state.
  std::string state;
  Phase phase = Phase::begin;
  bool event_pending = true;    // the event still has to be dispatched
  bool in_handler = false;      // the coroutine holds a started handler
  int resume_args = 0;
  int handler = 0;              // index of the handler being run, for error locations
  const char* handler_kind = "";  // "enter", "message", ... for error messages
  std::string target;           // state being entered after `leave`
  std::optional<std::string> goto_request;  // set by ctx:goto
  int transition_count = 0;

  // Effects, moved into the TurnResult on success.
  TurnResult effects;

  // Plugin call in flight.
  bool awaiting = false;
  bool suspended = false;       // counted in Host::suspended
  std::uint64_t call_seq = 0;
  std::string call_method;
  std::optional<PluginReply> reply;
  std::string call_site;        // "flows/x.lua:12: " (luaL_where)
  bool llm_failed = false;      // a ctx:llm call returned nil, err during this turn
  std::optional<boost::asio::steady_timer> deadline;

  std::string scratch;          // text built in C++ before it is pushed to Lua
};

// turn.cpp
void run_turn(Host& host, TurnInput input, FlowHost::Done done);
void on_plugin_reply(Host& host, std::uint64_t generation, std::uint64_t seq, PluginReply reply);
void cancel_suspended(Host& host, const std::string& why);
int resume_turn(Host& host, Turn& turn, int nargs, int* nresults);
void suspend(Host& host, Turn& turn);
void fail(Host& host, Turn& turn, std::string kind, std::string message);
void fail_from_lua(Host& host, Turn& turn, int status);
void complete_ok(Host& host, Turn& turn);

// turn_driver.cpp
void drive(Host& host, Turn& turn);

}  // namespace charla::lua::detail
