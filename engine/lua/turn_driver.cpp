// The turn's state machine, one handler at a time:
//
//   begin -> (new conversation or vanished state) enter initial -> event -> finish
//   a handler returning a state (or calling ctx:goto) -> leave old -> enter new -> ...
//
// Each handler runs by resuming the turn's coroutine with the handler and its
// arguments on the coroutine's stack (a finished Lua 5.4 coroutine can be started
// again this way), so every handler may yield for a plugin call and the driver simply
// continues from `phase` when the coroutine returns.
#include "log/log.hpp"
#include "lua/turn.hpp"

namespace charla::lua::detail {
namespace {

const StateRecord& current(const Turn& turn) { return turn.flow->states.at(turn.state); }

void enter_state(Turn& turn, const std::string& state) {
  turn.state = state;
  turn.effects.transitions.push_back(state);
  turn.phase = Phase::enter;
}

void push_ref(lua_State* L, int ref) {
  if (ref == LUA_NOREF) lua_pushnil(L);
  else lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
}

// Puts handler `index`, ctx and `arg_ref` (if any) on the coroutine's stack. Raw reads
// only: nothing here can raise.
void start_handler(Turn& turn, int index, const char* kind, int arg_ref, bool with_arg) {
  lua_State* co = turn.co;
  lua_settop(co, 0);
  lua_rawgeti(co, LUA_REGISTRYINDEX, turn.handlers_ref);
  lua_rawgeti(co, -1, index);
  lua_remove(co, -2);
  lua_rawgeti(co, LUA_REGISTRYINDEX, turn.ctx_ref);
  if (with_arg) push_ref(co, arg_ref);
  turn.handler = index;
  turn.handler_kind = kind;
  turn.resume_args = with_arg ? 2 : 1;
  turn.goto_request.reset();
  turn.in_handler = true;
}

// "flows/x.lua:42" for the handler that just ran.
std::string handler_location(Host& host, const Turn& turn) {
  lua_State* L = host.L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, turn.handlers_ref);
  lua_rawgeti(L, -1, turn.handler);
  lua_Debug ar;
  lua_getinfo(L, ">S", &ar);
  lua_pop(L, 1);
  return std::string(ar.short_src) + ":" + std::to_string(ar.linedefined);
}

std::string path_of(const Turn& turn, const std::string& next) {
  std::string path = turn.input.state.empty() ? "" : turn.input.state + " -> ";
  for (const auto& s : turn.effects.transitions) path += s + " -> ";
  return path + next;
}

bool transition(Host& host, Turn& turn, const std::string& next) {
  if (!turn.flow->states.count(next)) {
    fail(host, turn, "lua_error",
         handler_location(host, turn) + ": " + turn.handler_kind + " of state " + turn.state +
             " returned unknown state '" + next + "'");
    return false;
  }
  if (++turn.transition_count > host.options.max_transitions) {
    fail(host, turn, "transitions",
         "more than " + std::to_string(host.options.max_transitions) +
             " transitions in one turn (a loop?): " + path_of(turn, next));
    return false;
  }
  turn.target = next;
  turn.phase = Phase::leave;
  return true;
}

// Applies what a handler returned (nullopt: stay, or no handler at all).
bool after_handler(Host& host, Turn& turn, const std::optional<std::string>& next) {
  switch (turn.phase) {
    case Phase::migrate: {
      const bool known = next && turn.flow->states.count(*next);
      enter_state(turn, known ? *next : turn.flow->info.initial);
      return true;
    }
    case Phase::enter:
      if (next) return transition(host, turn, *next);
      turn.phase = turn.event_pending ? Phase::event : Phase::finish;
      return true;
    case Phase::event:
      if (next) return transition(host, turn, *next);
      turn.phase = Phase::finish;
      return true;
    case Phase::leave:  // what leave returns is ignored: the transition is under way
      enter_state(turn, turn.target);
      return true;
    default: return true;
  }
}

void begin(Turn& turn) {
  const FlowRecord& flow = *turn.flow;
  if (turn.enter_event) {  // no event to dispatch; a state gone since falls through to migrate/initial
    turn.event_pending = false;
    if (flow.states.count(turn.state)) return enter_state(turn, turn.state);
  }
  if (turn.state.empty()) return enter_state(turn, flow.info.initial);
  if (flow.states.count(turn.state)) {
    turn.phase = Phase::event;
    return;
  }
  log::warn("flow_state_missing", {{"conversation", turn.input.conversation}, {"flow", flow.info.name},
                                   {"state", turn.state}, {"moved_to", flow.migrate ? "migrate" : flow.info.initial}});
  if (flow.migrate) {
    turn.phase = Phase::migrate;
    return;
  }
  enter_state(turn, flow.info.initial);
}

// The event's handler: message(ctx, msg), timeout.run(ctx), or timers[name](ctx, payload)
// of the state, then of the flow. 0 when nobody handles it.
int event_handler(const Turn& turn, int& arg_ref, bool& with_arg, const char*& kind) {
  const StateRecord& state = current(turn);
  with_arg = true;
  if (!turn.timer_event) {
    arg_ref = turn.msg_ref;
    kind = "message";
    return state.message;
  }
  if (turn.timer_name == "__timeout") {
    with_arg = false;
    kind = "timeout.run";
    return state.timeout_run;
  }
  arg_ref = turn.payload_ref;
  kind = "timers handler";
  if (auto it = state.timers.find(turn.timer_name); it != state.timers.end()) return it->second;
  if (auto it = turn.flow->timers.find(turn.timer_name); it != turn.flow->timers.end()) return it->second;
  log::info("flow_timer_unhandled", {{"conversation", turn.input.conversation}, {"flow", turn.input.flow},
                                     {"state", turn.state}, {"timer", turn.timer_name}});
  return 0;
}

// Starts the current phase's handler, or applies "no handler" right away.
bool start_phase(Host& host, Turn& turn) {
  int index = 0;
  int arg_ref = LUA_NOREF;
  bool with_arg = false;
  const char* kind = "";
  switch (turn.phase) {
    case Phase::begin: begin(turn); return true;
    case Phase::migrate: index = turn.flow->migrate; kind = "migrate"; arg_ref = turn.old_state_ref; with_arg = true; break;
    case Phase::enter: index = current(turn).enter; kind = "enter"; break;
    case Phase::leave: index = current(turn).leave; kind = "leave"; break;
    case Phase::event:
      turn.event_pending = false;
      index = event_handler(turn, arg_ref, with_arg, kind);
      break;
    case Phase::finish: return true;
  }
  if (index == 0) return after_handler(host, turn, std::nullopt);
  start_handler(turn, index, kind, arg_ref, with_arg);
  return true;
}

// Reads the handler's first result: a state name, or nil/false/nothing to stay.
bool read_result(Host& host, Turn& turn, int nresults, std::optional<std::string>& next) {
  lua_State* co = turn.co;
  const int first = lua_gettop(co) - nresults + 1;
  const int type = nresults > 0 ? lua_type(co, first) : LUA_TNIL;
  if (type == LUA_TSTRING) next = lua_tostring(co, first);
  else if (type != LUA_TNIL && !(type == LUA_TBOOLEAN && !lua_toboolean(co, first))) {
    const std::string what = lua_typename(co, type);
    lua_settop(co, 0);
    fail(host, turn, "lua_error",
         handler_location(host, turn) + ": " + turn.handler_kind + " of state " + turn.state + " returned a " + what +
             "; return a state name or nothing");
    return false;
  }
  lua_settop(co, 0);
  if (!next && turn.goto_request) next = std::move(turn.goto_request);
  turn.goto_request.reset();
  return true;
}

// Resumes the coroutine; false when the turn suspended or ended.
bool run_handler(Host& host, Turn& turn) {
  int nresults = 0;
  const int status = resume_turn(host, turn, turn.resume_args, &nresults);
  turn.resume_args = 0;
  if (status == LUA_YIELD) {
    if (turn.awaiting) {
      suspend(host, turn);
      return false;
    }
    fail(host, turn, "lua_error", "coroutine.yield called outside a coroutine the flow created");
    return false;
  }
  if (status != LUA_OK) {
    fail_from_lua(host, turn, status);
    return false;
  }
  turn.in_handler = false;
  std::optional<std::string> next;
  if (!read_result(host, turn, nresults, next)) return false;
  return after_handler(host, turn, next);
}

}  // namespace

void drive(Host& host, Turn& turn) {
  for (;;) {
    if (turn.in_handler) {
      if (!run_handler(host, turn)) return;  // suspended, or failed and gone
      continue;
    }
    if (turn.phase == Phase::finish) return complete_ok(host, turn);
    if (!start_phase(host, turn)) return;
  }
}

}  // namespace charla::lua::detail
