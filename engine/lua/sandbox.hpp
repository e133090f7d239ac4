#pragma once
// The sandbox every flow runs in (redis script_lua.c, LuaSandbox): an allow-list of
// libraries, a per-turn instruction budget enforced by a count hook, and pcall
// wrappers that refuse to swallow a budget or memory overrun.
#include "lua/host.hpp"

#include <string_view>

namespace charla::lua::detail {

// Opens base (without dofile/loadfile; load is text-only; collectgarbage "count"
// only; setmetatable refuses __gc), string (without dump), table, math, utf8 and
// coroutine. print goes to the log. Builds the registry tables the host needs.
void open_sandbox(Host& host);

// Hooks are per thread in Lua 5.4: call this on every turn coroutine (threads the
// flow creates inherit the hook from the thread that creates them).
void install_count_hook(Host& host, lua_State* thread);

// Raises the error of a killed budget ("instruction budget exceeded (N instructions)",
// "turn time budget of N ms exceeded", or "not enough memory"), prefixed with the
// location at `level` and, when given, `what` ran out ("pattern matching exceeded
// the instruction budget ..."). Also makes the thread's hook fire at every
// instruction, so nothing the error runs (a __close handler) can keep going.
int raise_killed(lua_State* L, const Budget& budget, int level, const char* what = nullptr);

// Logs the arguments from `first` on, tab-separated like print, as `event` with the
// running turn's conversation, flow and state.
int log_arguments(lua_State* L, const char* event, int first);

// require.cpp: pushes a fresh environment for a flow file in `dir`: its own globals
// (readonly.cpp: writable while its chunk runs, an error during turns), reads falling
// through to the sandbox's, and a `require` that loads text modules from `dir` only,
// cached per flow file so flows never share a module's table.
void push_flow_env(lua_State* L, std::string_view dir);

// readonly.cpp: replaces string, table, math, utf8 and coroutine with read-only
// proxies, builds the read-only view of the globals, and makes rawset refuse proxies.
void protect_libraries(lua_State* L);
// Replaces the table on top of the stack, and every table inside it, with read-only
// proxies (reads, ipairs, pairs and # work; assignment raises naming `what`).
void make_readonly_tree(lua_State* L, const char* what);
// Pushes the read-only view of the sandbox globals (load()'s default env).
void push_readonly_globals(lua_State* L);
// Replaces the globals table on top of the stack (its metatable reads through to
// the sandbox) with the flow environment proxy over it; sets its _G.
void make_env(lua_State* L);
// Marks the environment at `env` as loading (its chunk may assign globals even
// during a turn, as a module required from a handler does) or not.
void set_env_open(lua_State* L, int env, bool open);

}  // namespace charla::lua::detail
