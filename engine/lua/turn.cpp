// Turn lifecycle: setup under lua_pcall, resume, suspension with a wall-time deadline,
// plugin completions guarded by generation, and completion that releases every Lua
// reference before Done runs. The handler-by-handler logic is in turn_driver.cpp.
#include "lua/turn.hpp"

#include "log/log.hpp"
#include "lua/ctx.hpp"
#include "lua/json_lua.hpp"
#include "lua/sandbox.hpp"

namespace charla::lua::detail {
namespace {

using nlohmann::json;

// Builds the turn's Lua side. Runs under lua_pcall on the main thread, so a memory
// error here fails the turn instead of the process. Holds no C++ objects.
int setup_turn(lua_State* L) {
  Turn& turn = *static_cast<Turn*>(lua_touserdata(L, 1));
  Host& host = host_of(L);
  turn.co = lua_newthread(L);
  lua_getfield(L, LUA_REGISTRYINDEX, kTurnThreads);
  lua_pushvalue(L, -2);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  turn.co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  install_count_hook(host, turn.co);

  if (turn.input.data.is_object()) push_json(L, turn.input.data);
  else lua_newtable(L);
  push_ctx(L, turn);
  turn.ctx_ref = luaL_ref(L, LUA_REGISTRYINDEX);

  const json& event = turn.input.event;
  if (auto msg = event.find("msg"); !turn.timer_event && msg != event.end()) {
    push_json(L, *msg);
    push_msg(L, turn);
    turn.msg_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  if (auto payload = event.find("payload"); turn.timer_event && payload != event.end()) {
    push_json(L, *payload);
    turn.payload_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  if (!turn.input.state.empty()) {
    lua_pushlstring(L, turn.input.state.data(), turn.input.state.size());
    turn.old_state_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, turn.flow->handlers_ref);
  turn.handlers_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

// Checks the event's shape and keeps what the driver needs; empty string when valid.
std::string read_event(Turn& turn) {
  const json& event = turn.input.event;
  const auto kind = event.find("kind");
  if (!event.is_object() || kind == event.end() || !kind->is_string())
    return "event needs a kind (\"message\" or \"timer\")";
  if (*kind == "timer") {
    turn.timer_event = true;
    auto name = event.find("name");
    if (name == event.end() || !name->is_string() || name->get_ref<const std::string&>().empty())
      return "timer event needs a name";
    turn.timer_name = name->get<std::string>();
    return {};
  }
  if (*kind == "enter") {  // an operator set the state and asked for its enter to run
    turn.enter_event = true;
    return {};
  }
  if (*kind != "message") return "unknown event kind " + kind->dump();
  auto msg = event.find("msg");
  if (msg == event.end() || !msg->is_object()) return "message event needs a msg object";
  if (auto id = msg->find("id"); id != msg->end() && id->is_string()) turn.msg_id = id->get<std::string>();
  return {};
}

void release_lua(Host& host, Turn& turn) {
  for (int* ref : {&turn.co_ref, &turn.ctx_ref, &turn.msg_ref, &turn.payload_ref, &turn.old_state_ref,
                   &turn.handlers_ref}) {
    luaL_unref(host.L, LUA_REGISTRYINDEX, *ref);
    *ref = LUA_NOREF;
  }
  turn.co = nullptr;
}

// Hands the result over. `turn` is destroyed here; callers must not touch it after.
void finish(Host& host, Turn& turn, TurnResult result) {
  result.instructions = turn.budget.used;
  release_lua(host, turn);
  // A memory overrun leaves its garbage behind; collect it now so the next turn
  // starts with the whole budget.
  if (result.error_kind == "memory") lua_gc(host.L, LUA_GCCOLLECT);
  if (turn.deadline) turn.deadline->cancel();
  if (turn.suspended) --host.suspended;
  FlowHost::Done done = std::move(turn.done);
  host.turns.erase(turn.generation);
  if (done) done(std::move(result));
}

int traceback_of(lua_State* L) {
  luaL_traceback(L, lua_tothread(L, 1), nullptr, 0);
  return 1;
}

// A few frames of the coroutine's stack (it is not unwound after an error). Empty if
// even that cannot be allocated.
std::string short_traceback(Host& host, Turn& turn) {
  lua_State* L = host.L;
  lua_pushcfunction(L, traceback_of);
  lua_rawgeti(L, LUA_REGISTRYINDEX, turn.co_ref);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK || lua_type(L, -1) != LUA_TSTRING) {
    lua_pop(L, 1);
    return {};
  }
  std::string text = lua_tostring(L, -1);
  lua_pop(L, 1);
  std::size_t cut = 0;
  for (int lines = 0; lines < 7 && cut != std::string::npos; ++lines) cut = text.find('\n', cut + 1);
  if (cut != std::string::npos) text.resize(cut);
  return text;
}

const char* kill_kind(const Budget& budget, int status) {
  // A turn over its wall-clock budget while running Lua is the flow's doing, like the
  // instruction budget ("time" is for a turn cancelled while it waits on a plugin).
  if (budget.kill == Budget::Kill::instructions || budget.kill == Budget::Kill::time) return "budget";
  if (budget.kill == Budget::Kill::memory || status == LUA_ERRMEM) return "memory";
  return "lua_error";
}

void on_deadline(Host& host, std::uint64_t generation) {
  auto it = host.turns.find(generation);
  if (it == host.turns.end() || !it->second->awaiting) return;
  Turn& turn = *it->second;
  if (turn.call_method == "llm") turn.llm_failed = true;  // the LLM never answered: llm_fallback fits
  fail(host, turn, "time",
       "turn time budget of " + std::to_string(host.options.turn_time_budget.count()) +
           " ms exceeded while waiting for ctx:" + turn.call_method);
}

void arm_state_timeout(const Turn& turn, TurnResult& result) {
  // Re-arm on every message (inactivity) and on every state change; a timer event that
  // leaves the state alone must not push its own timeout further.
  if (turn.timer_event && result.transitions.empty()) return;
  TimerOp op;
  op.name = "__timeout";
  const auto state = turn.flow->states.find(turn.state);
  if (state != turn.flow->states.end() && state->second.timeout_ms >= 0) {
    op.kind = TimerOp::Kind::set;
    op.due_ms = turn.input.now_ms + state->second.timeout_ms;
  } else {
    op.kind = TimerOp::Kind::cancel;
  }
  result.timers.push_back(std::move(op));
}

}  // namespace

void run_turn(Host& host, TurnInput input, FlowHost::Done done) {
  const std::uint64_t generation = host.next_generation++;
  auto owned = std::make_unique<Turn>();
  Turn& turn = *owned;
  turn.generation = generation;
  turn.input = std::move(input);
  turn.done = std::move(done);
  turn.started = std::chrono::steady_clock::now();
  turn.budget.limit = host.options.instruction_budget;
  turn.budget.deadline = turn.started + host.options.turn_time_budget;
  turn.budget.time_limit = host.options.turn_time_budget;
  turn.state = turn.input.state;
  host.turns.emplace(generation, std::move(owned));

  const auto flow = host.flows.find(turn.input.flow);
  if (flow == host.flows.end()) return fail(host, turn, "lua_error", "unknown flow '" + turn.input.flow + "'");
  turn.flow = flow->second;
  if (std::string error = read_event(turn); !error.empty()) return fail(host, turn, "lua_error", error);

  lua_pushcfunction(host.L, setup_turn);
  lua_pushlightuserdata(host.L, &turn);
  if (const int status = lua_pcall(host.L, 1, 0, 0); status != LUA_OK) {
    lua_pop(host.L, 1);
    return fail(host, turn, status == LUA_ERRMEM ? "memory" : "lua_error", "could not set up the turn");
  }
  // Now converted to Lua: drop the JSON copies so a suspended turn stays small.
  turn.input.data = nullptr;
  turn.input.event = nullptr;
  drive(host, turn);
}

int resume_turn(Host& host, Turn& turn, int nargs, int* nresults) {
  Turn* const outer_turn = host.running;
  Budget* const outer_budget = host.budget;
  host.running = &turn;
  host.budget = &turn.budget;
  const int status = lua_resume(turn.co, host.L, nargs, nresults);
  host.running = outer_turn;
  host.budget = outer_budget;
  return status;
}

void suspend(Host& host, Turn& turn) {
  if (!turn.suspended) {
    turn.suspended = true;
    ++host.suspended;
  }
  if (turn.deadline) return;
  turn.deadline.emplace(host.io);
  turn.deadline->expires_at(turn.started + host.options.turn_time_budget);
  std::weak_ptr<Host*> life = host.life;
  const std::uint64_t generation = turn.generation;
  turn.deadline->async_wait([life, generation](const boost::system::error_code& ec) {
    if (ec) return;
    if (auto host = life.lock()) on_deadline(**host, generation);
  });
}

void on_plugin_reply(Host& host, std::uint64_t generation, std::uint64_t seq, PluginReply reply) {
  auto it = host.turns.find(generation);
  if (it == host.turns.end() || !it->second->awaiting || it->second->call_seq != seq) {
    log::debug("plugin_reply_dropped", {{"generation", generation}});
    return;  // the turn ended (time, shutdown): never touch its coroutine
  }
  Turn& turn = *it->second;
  turn.awaiting = false;
  turn.suspended = false;
  --host.suspended;
  turn.reply = std::move(reply);
  turn.resume_args = 0;
  drive(host, turn);
}

void cancel_suspended(Host& host, const std::string& why) {
  std::vector<std::uint64_t> waiting;
  for (const auto& [generation, turn] : host.turns)
    if (turn->awaiting) waiting.push_back(generation);
  for (std::uint64_t generation : waiting) {
    auto it = host.turns.find(generation);  // an earlier Done may have changed the map
    if (it != host.turns.end() && it->second->awaiting) fail(host, *it->second, "time", why);
  }
}

// The runtime logs failed turns with their fallback; this is the host's debug trace.
void fail(Host& host, Turn& turn, std::string kind, std::string message) {
  log::debug("flow_turn_failed", {{"conversation", turn.input.conversation}, {"flow", turn.input.flow},
                                 {"state", turn.state}, {"turn", turn.input.turn_id}, {"kind", kind},
                                 {"error", message}});
  TurnResult result;
  result.ok = false;
  result.error = std::move(message);
  result.error_kind = std::move(kind);
  result.llm_failed = turn.llm_failed;
  result.state = turn.input.state;
  finish(host, turn, std::move(result));
}

void fail_from_lua(Host& host, Turn& turn, int status) {
  std::string message;
  if (lua_type(turn.co, -1) == LUA_TSTRING) message = lua_tostring(turn.co, -1);
  else message = std::string("(error object is a ") + luaL_typename(turn.co, -1) + " value)";
  const std::string kind = kill_kind(turn.budget, status);
  if (kind != "memory")
    if (std::string trace = short_traceback(host, turn); !trace.empty()) message += "\n" + trace;
  fail(host, turn, kind, std::move(message));
}

void complete_ok(Host& host, Turn& turn) {
  lua_State* L = host.L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, turn.ctx_ref);
  lua_getiuservalue(L, -1, 1);
  json data;
  std::string error;
  Turn* const outer = host.running;
  host.running = &turn;  // a msg kept in ctx.data converts only while its turn runs
  const bool ok = to_json(L, -1, data, error, "ctx.data");
  host.running = outer;
  lua_pop(L, 2);
  if (!ok) return fail(host, turn, "data", error);

  TurnResult result = std::move(turn.effects);
  result.ok = true;
  result.state = turn.state;
  result.data = std::move(data);
  arm_state_timeout(turn, result);
  finish(host, turn, std::move(result));
}

}  // namespace charla::lua::detail
