// Flow control and context: ctx:goto (alias ctx:go, since `goto` is a Lua keyword and
// ctx:goto(...) does not parse; ctx["goto"](ctx, s) works), ctx:after, ctx:cancel,
// ctx:handoff, ctx:log, ctx:now and the read-only fields phone, name, state, channel,
// conversation, flow.
//
// Errors (all raise with file:line): an unknown state in goto; a bad duration
// (number of seconds, or "500ms", "90s", "30m", "2h", "1d"); an empty timer name or
// one starting with "__" (reserved for the state timeout); a payload that cannot be
// stored as JSON; assigning a read-only field.
#include "lua/ctx.hpp"
#include "lua/duration.hpp"
#include "lua/json_lua.hpp"
#include "lua/sandbox.hpp"

namespace charla::lua::detail {
namespace {

void push_text(lua_State* L, const std::string& s) { lua_pushlstring(L, s.data(), s.size()); }

int get_phone(lua_State* L) { push_text(L, check_ctx(L, 1).input.phone); return 1; }
int get_name(lua_State* L) { push_text(L, check_ctx(L, 1).input.name); return 1; }
int get_state(lua_State* L) { push_text(L, check_ctx(L, 1).state); return 1; }
int get_channel(lua_State* L) { push_text(L, check_ctx(L, 1).input.channel); return 1; }
int get_conversation(lua_State* L) { push_text(L, check_ctx(L, 1).input.conversation); return 1; }
int get_flow(lua_State* L) { push_text(L, check_ctx(L, 1).input.flow); return 1; }

// Records the transition; the driver performs it when the handler returns (a returned
// state name takes precedence).
int ctx_goto(lua_State* L) {
  Turn& turn = check_ctx(L, 1);
  const std::string_view state = check_text(L, 2, "ctx:goto", "state");
  if (!turn.flow->states.count(std::string(state)))
    return luaL_error(L, "ctx:goto: unknown state '%s' in flow '%s'", lua_tostring(L, 2), turn.flow->info.name.c_str());
  turn.goto_request = std::string(state);
  return 0;
}

std::string_view check_timer_name(lua_State* L, int index, const char* method) {
  const std::string_view name = check_text(L, index, method, "timer name");
  if (name.substr(0, 2) == "__") luaL_error(L, "%s: timer names starting with '__' are reserved", method);
  return name;
}

Failure add_timer(lua_State* L, Turn& turn, std::string_view name, std::int64_t due_ms, int payload) noexcept {
  Failure failure;
  try {
    TimerOp op;
    op.kind = TimerOp::Kind::set;
    op.name = std::string(name);
    op.due_ms = due_ms;
    std::string error;
    if (!lua_isnoneornil(L, payload) && !to_json(L, payload, op.payload, error, "ctx:after payload"))
      failure.set(error);
    else
      turn.effects.timers.push_back(std::move(op));
  } catch (const std::exception& e) {
    failure.set(e.what());
  }
  return failure;
}

// ctx:after(duration, name [, payload]): the timer fires as a "timer" event with that
// name; the state's timers[name] or the flow's timers[name] handles it.
int ctx_after(lua_State* L) {
  Turn& turn = check_ctx(L, 1);
  const std::optional<std::int64_t> ms = duration_ms_at(L, 2);
  if (!ms)
    return luaL_error(L, "ctx:after: bad duration %s (use seconds or \"500ms\", \"90s\", \"30m\", \"2h\", \"1d\")",
                      luaL_tolstring(L, 2, nullptr));
  const std::string_view name = check_timer_name(L, 3, "ctx:after");
  const Failure failure = add_timer(L, turn, name, turn.input.now_ms + *ms, 4);
  if (failure) return raise_failure(L, failure);
  return 0;
}

int ctx_cancel(lua_State* L) {
  Turn& turn = check_ctx(L, 1);
  const std::string_view name = check_timer_name(L, 2, "ctx:cancel");
  TimerOp op;
  op.kind = TimerOp::Kind::cancel;
  op.name = std::string(name);
  turn.effects.timers.push_back(std::move(op));
  return 0;
}

int ctx_handoff(lua_State* L) {
  Turn& turn = check_ctx(L, 1);
  const std::string_view reason = opt_text(L, 2, "ctx:handoff", "reason");
  turn.effects.handoff = std::string(reason);
  return 0;
}

int ctx_log(lua_State* L) {
  check_ctx(L, 1);
  return log_arguments(L, "flow_log", 2);
}

int ctx_now(lua_State* L) {
  const Turn& turn = check_ctx(L, 1);
  lua_pushnumber(L, static_cast<lua_Number>(turn.input.now_ms) / 1000.0);
  return 1;
}

}  // namespace

void register_control(lua_State* L) {
  add_ctx_field(L, "phone", get_phone, nullptr);
  add_ctx_field(L, "name", get_name, nullptr);
  add_ctx_field(L, "state", get_state, nullptr);
  add_ctx_field(L, "channel", get_channel, nullptr);
  add_ctx_field(L, "conversation", get_conversation, nullptr);
  add_ctx_field(L, "flow", get_flow, nullptr);
  add_ctx_method(L, "goto", ctx_goto);
  add_ctx_method(L, "go", ctx_goto);
  add_ctx_method(L, "after", ctx_after);
  add_ctx_method(L, "cancel", ctx_cancel);
  add_ctx_method(L, "handoff", ctx_handoff);
  add_ctx_method(L, "log", ctx_log);
  add_ctx_method(L, "now", ctx_now);
}

}  // namespace charla::lua::detail
