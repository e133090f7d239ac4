#include "lua/sandbox.hpp"

#include "log/log.hpp"
#include "lua/turn.hpp"
#include "lua/vendor/charla_vendor.h"
#include "lua/work_budget.hpp"

#include <algorithm>

namespace charla::lua::detail {
namespace {

// Charges the instructions since the last call and reads the clock: the wall-clock
// budget holds for the whole turn, not only while a plugin call is pending.
void count_hook(lua_State* L, lua_Debug*) {
  Host& host = host_of(L);
  Budget* budget = host.budget;
  if (!budget) return;
  if (budget->kill == Budget::Kill::none) {
    budget->used += static_cast<std::uint64_t>(host.hook_step);
    if (budget->used > budget->limit) budget->kill = Budget::Kill::instructions;
    else if (!check_deadline(*budget)) return;
  }
  raise_killed(L, *budget, 0);
}

// pcall/xpcall continuation (lbaselib's finishpcall plus the redis rule): a killed
// turn's error is re-raised instead of being returned to the flow.
int finish_pcall(lua_State* L, int status, lua_KContext extra) {
  Budget* budget = host_of(L).budget;
  if (budget && status == LUA_ERRMEM && budget->kill == Budget::Kill::none) budget->kill = Budget::Kill::memory;
  if (budget && budget->kill != Budget::Kill::none) {
    if (status == LUA_OK || status == LUA_YIELD) return raise_killed(L, *budget, 1);
    return lua_error(L);  // the error object is on top
  }
  if (status != LUA_OK && status != LUA_YIELD) {
    lua_pushboolean(L, 0);
    lua_pushvalue(L, -2);
    return 2;
  }
  return lua_gettop(L) - static_cast<int>(extra);
}

int sandbox_pcall(lua_State* L) {
  luaL_checkany(L, 1);
  lua_pushboolean(L, 1);
  lua_insert(L, 1);
  const int status = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, 0, finish_pcall);
  return finish_pcall(L, status, 0);
}

// Lua calls an xpcall message handler before unwinding, and after an error raised by
// a hook it does so with hooks still disabled: a looping handler would never be
// stopped. So the flow's handler only runs for errors of a turn that is not killed.
int guarded_message_handler(lua_State* L) {
  const Budget* budget = host_of(L).budget;
  if (budget && budget->kill != Budget::Kill::none) return 1;  // pass the error through untouched
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

int sandbox_xpcall(lua_State* L) {
  const int n = lua_gettop(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_pushvalue(L, 2);
  lua_pushcclosure(L, guarded_message_handler, 1);
  lua_replace(L, 2);
  lua_pushboolean(L, 1);
  lua_pushvalue(L, 1);
  lua_rotate(L, 3, 2);
  const int status = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, finish_pcall);
  return finish_pcall(L, status, 2);
}

// A flow can reach a turn's own coroutine with coroutine.running() and keep it; it
// must never resume or close it (it may be another conversation's suspended turn).
void refuse_turn_thread(lua_State* L) {
  if (lua_type(L, 1) != LUA_TTHREAD) return;
  lua_getfield(L, LUA_REGISTRYINDEX, kTurnThreads);
  lua_pushvalue(L, 1);
  const bool is_turn = lua_rawget(L, -2) != LUA_TNIL;
  lua_pop(L, 2);
  if (is_turn) luaL_error(L, "a turn's own coroutine cannot be resumed or closed by a flow");
}

// coroutine.close runs the coroutine's pending __close handlers and returns their
// error: same rule as pcall.
int sandbox_close(lua_State* L) {
  refuse_turn_thread(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  const Budget* budget = host_of(L).budget;
  if (budget && budget->kill != Budget::Kill::none) return raise_killed(L, *budget, 1);
  return lua_gettop(L);
}

// coroutine.resume catches errors too: same rule as pcall.
int sandbox_resume(lua_State* L) {
  refuse_turn_thread(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  const Budget* budget = host_of(L).budget;
  if (budget && budget->kill != Budget::Kill::none) return raise_killed(L, *budget, 1);
  return lua_gettop(L);
}

// Compiling costs about one unit per byte of source (work_budget.hpp).
constexpr std::uint64_t kLoadBytesPerUnit = 1;

// load's reader, charged by the bytes it returns. Upvalue 1: the flow's reader.
int charged_reader(lua_State* L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_call(L, 0, 1);
  if (lua_type(L, -1) == LUA_TSTRING) charge(L, lua_rawlen(L, -1) / kLoadBytesPerUnit + 1, "load");
  return 1;
}

// load(chunk [, chunkname [, mode [, env]]]) with mode forced to "t": no bytecode.
// Without env the chunk sees the read-only sandbox globals (readonly.cpp), never
// the table every flow reads through.
int sandbox_load(lua_State* L) {
  if (lua_type(L, 1) == LUA_TSTRING) {
    charge(L, lua_rawlen(L, 1) / kLoadBytesPerUnit + 1, "load");
  } else if (lua_type(L, 1) == LUA_TFUNCTION) {
    lua_pushvalue(L, 1);
    lua_pushcclosure(L, charged_reader, 1);
    lua_replace(L, 1);
  }
  if (lua_gettop(L) < 4) {
    lua_settop(L, 3);
    push_readonly_globals(L);
  }
  lua_pushliteral(L, "t");
  lua_replace(L, 3);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  // load returns a reader's errors as (nil, message): a killed budget is re-raised.
  const Budget* budget = host_of(L).budget;
  if (budget && budget->kill != Budget::Kill::none) return raise_killed(L, *budget, 1, "load");
  return lua_gettop(L);
}

int sandbox_collectgarbage(lua_State* L) {
  const char* option = luaL_optstring(L, 1, "collect");
  if (std::string_view(option) != "count")
    return luaL_error(L, "collectgarbage('%s') is not available to flows (only 'count')", option);
  const int kb = lua_gc(L, LUA_GCCOUNT);
  const int bytes = lua_gc(L, LUA_GCCOUNTB);
  lua_pushnumber(L, static_cast<lua_Number>(kb) + static_cast<lua_Number>(bytes) / 1024.0);
  return 1;
}

// A __gc finalizer runs with hooks off, outside any turn: the budget could not stop it.
int sandbox_setmetatable(lua_State* L) {
  if (lua_type(L, 2) == LUA_TTABLE) {
    lua_pushliteral(L, "__gc");
    if (lua_rawget(L, 2) != LUA_TNIL) return luaL_error(L, "__gc metamethods are not available to flows");
    lua_pop(L, 1);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

int sandbox_print(lua_State* L) { return log_arguments(L, "flow_print", 1); }

void log_line(Host& host, const char* event, const char* text, std::size_t len) noexcept {
  try {
    // Flow log lines often quote msg.text: with log.redact_text they are redacted too.
    nlohmann::json fields{{"message", log::text(std::string_view(text, len))}};
    if (const Turn* turn = host.running) {
      fields["conversation"] = turn->input.conversation;
      fields["flow"] = turn->input.flow;
      fields["state"] = turn->state;
      fields["turn"] = turn->input.turn_id;
    }
    log::info(event, std::move(fields));
  } catch (const std::exception&) {
    // Logging must never fail a turn.
  }
}

// Replaces _G[name] with a C closure whose first upvalue is the original function.
void wrap_global(lua_State* L, const char* table, const char* name, lua_CFunction wrapper) {
  if (table) lua_getglobal(L, table);
  else lua_pushglobaltable(L);
  lua_getfield(L, -1, name);
  lua_pushcclosure(L, wrapper, 1);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
}

void set_global(lua_State* L, const char* name, lua_CFunction f) {
  if (f) lua_pushcfunction(L, f);
  else lua_pushnil(L);
  lua_setglobal(L, name);
}

void create_registry_tables(lua_State* L) {
  // Flow environments read through to the sandbox globals.
  luaL_newmetatable(L, kEnvMeta);
  lua_pushglobaltable(L);
  lua_setfield(L, -2, "__index");
  lua_pushboolean(L, 0);  // shared by every flow: getmetatable(_ENV) must not expose it
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, kTurnThreads);
}

}  // namespace

void open_sandbox(Host& host) {
  lua_State* L = host.L;
  // The table library is the vendored one that charges the elements it moves.
  const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},          {LUA_STRLIBNAME, luaopen_string},
                           {LUA_TABLIBNAME, charla_open_table}, {LUA_MATHLIBNAME, luaopen_math},
                           {LUA_UTF8LIBNAME, luaopen_utf8},    {LUA_COLIBNAME, luaopen_coroutine}};
  for (const auto& lib : libs) {
    luaL_requiref(L, lib.name, lib.func, 1);
    lua_pop(L, 1);
  }
  set_global(L, "dofile", nullptr);
  set_global(L, "loadfile", nullptr);
  set_global(L, "pcall", sandbox_pcall);
  set_global(L, "xpcall", sandbox_xpcall);
  set_global(L, "collectgarbage", sandbox_collectgarbage);
  set_global(L, "print", sandbox_print);
  wrap_global(L, nullptr, "load", sandbox_load);
  wrap_global(L, nullptr, "setmetatable", sandbox_setmetatable);
  wrap_global(L, LUA_COLIBNAME, "resume", sandbox_resume);
  wrap_global(L, LUA_COLIBNAME, "close", sandbox_close);
  lua_getglobal(L, LUA_STRLIBNAME);
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  lua_pop(L, 1);
  // Strings share one metatable; hide it so one flow cannot change strings for all.
  lua_pushliteral(L, "");
  lua_getmetatable(L, -1);
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 2);
  install_charged_libraries(L);
  create_registry_tables(L);
  protect_libraries(L);
}

void install_count_hook(Host& host, lua_State* thread) {
  lua_sethook(thread, count_hook, LUA_MASKCOUNT, host.hook_step);
}

int raise_killed(lua_State* L, const Budget& budget, int level, const char* what) {
  // From now on raise at every instruction of this thread: whatever caught the
  // first error (a to-be-closed variable's __close, say) gets no room to keep running.
  lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
  if (budget.kill == Budget::Kill::memory) {
    lua_pushliteral(L, "not enough memory");
    return lua_error(L);
  }
  luaL_where(L, level);  // "file:line: " or ""
  const char* where = lua_tostring(L, -1);
  if (budget.kill == Budget::Kill::time) {
    const auto ms = static_cast<LUAI_UACINT>(budget.time_limit.count());
    if (what) lua_pushfstring(L, "%s%s exceeded the turn time budget of %I ms", where, what, ms);
    else lua_pushfstring(L, "%sturn time budget of %I ms exceeded", where, ms);
    return lua_error(L);
  }
  const auto limit = static_cast<LUAI_UACINT>(budget.limit);
  if (what) lua_pushfstring(L, "%s%s exceeded the instruction budget (%I instructions)", where, what, limit);
  else lua_pushfstring(L, "%sinstruction budget exceeded (%I instructions)", where, limit);
  return lua_error(L);
}

int log_arguments(lua_State* L, const char* event, int first) {
  const int top = lua_gettop(L);
  luaL_Buffer buffer;
  luaL_buffinit(L, &buffer);
  for (int i = first; i <= top; ++i) {
    if (i > first) luaL_addchar(&buffer, '\t');
    luaL_tolstring(L, i, nullptr);
    luaL_addvalue(&buffer);
  }
  luaL_pushresult(&buffer);
  std::size_t len = 0;
  const char* text = lua_tolstring(L, -1, &len);
  log_line(host_of(L), event, text, len);
  return 0;
}

}  // namespace charla::lua::detail
