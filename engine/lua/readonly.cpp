// What flows share is read-only to them. One lua_State serves every flow and
// conversation of a worker, so a flow that could assign string.match, set a
// metatable on _G or keep a global between turns would change what every other
// conversation sees until restart.
//
//  - string, table, math, utf8 and coroutine are empty proxies whose __index is the
//    library, __newindex raises, __metatable hides the metatable, and rawset
//    refuses them. (The string metatable's __index is the library itself, out of
//    reach: getmetatable("") is false.)
//  - Each flow file and module gets its own global environment: an empty proxy over
//    its own table of globals, which reads through to the sandbox globals. Its code
//    may assign globals while its chunk runs (loading); during a turn an
//    assignment raises, because it would reach the next conversation.
//  - load() without an env runs the chunk in a read-only view of the sandbox globals.
#include "lua/sandbox.hpp"

namespace charla::lua::detail {
namespace {

constexpr const char* kReadOnly = "charla.readonly";       // weak keys: proxy -> what it is (text)
constexpr const char* kOpenEnvs = "charla.openenvs";       // weak keys: env -> true while its chunk runs
constexpr const char* kGlobalsView = "charla.globalsview";  // read-only view of the sandbox globals

constexpr const char* kLibraries[] = {LUA_STRLIBNAME, LUA_TABLIBNAME, LUA_MATHLIBNAME, LUA_UTF8LIBNAME,
                                      LUA_COLIBNAME};

// "'name'" for a string key, "a <type> key" otherwise.
const char* key_text(lua_State* L, int index) {
  if (lua_type(L, index) == LUA_TSTRING) return lua_pushfstring(L, "'%s'", lua_tostring(L, index));
  return lua_pushfstring(L, "a %s key", luaL_typename(L, index));
}

// __newindex of a library proxy. Upvalue 1: the library's name.
int library_newindex(lua_State* L) {
  const char* library = lua_tostring(L, lua_upvalueindex(1));
  const char* key = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "?";
  return luaL_error(L,
                    "cannot assign %s.%s: the %s library is shared by every flow and read-only "
                    "(define a local function instead)",
                    library, key, library);
}

// __newindex of the read-only globals view.
int globals_newindex(lua_State* L) {
  return luaL_error(L, "cannot assign global %s: a chunk load() runs without an env sees read-only globals "
                       "(pass load() an env table)", key_text(L, 2));
}

// __pairs of a proxy: iterates what it stands for. Upvalue 1: that table.
int proxy_pairs(lua_State* L) {
  lua_getglobal(L, "next");
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushnil(L);
  return 3;
}

// Replaces the table on top with an empty proxy: reads go to it, writes to the
// closure of `newindex` (which gets the table as upvalue 1 when `table_upvalue`,
// else `name`), the metatable is hidden. Records the proxy as read-only to rawset.
void make_proxy(lua_State* L, lua_CFunction newindex, bool table_upvalue, const char* name) {
  const int target = lua_gettop(L);
  lua_newtable(L);  // the proxy
  lua_createtable(L, 0, 4);
  lua_pushvalue(L, target);
  lua_setfield(L, -2, "__index");
  if (table_upvalue) lua_pushvalue(L, target);
  else lua_pushstring(L, name);
  lua_pushcclosure(L, newindex, 1);
  lua_setfield(L, -2, "__newindex");
  lua_pushvalue(L, target);
  lua_pushcclosure(L, proxy_pairs, 1);
  lua_setfield(L, -2, "__pairs");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  lua_getfield(L, LUA_REGISTRYINDEX, kReadOnly);
  lua_pushvalue(L, -2);
  lua_pushstring(L, name);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  lua_replace(L, target);
}

// rawset(t, k, v) refuses the proxies: it would write into the proxy itself, which
// every flow shares. Upvalue 1: the original rawset.
int sandbox_rawset(lua_State* L) {
  if (lua_type(L, 1) == LUA_TTABLE) {
    lua_getfield(L, LUA_REGISTRYINDEX, kReadOnly);
    lua_pushvalue(L, 1);
    if (lua_rawget(L, -2) == LUA_TSTRING) return luaL_error(L, "rawset: %s is read-only", lua_tostring(L, -1));
    lua_pop(L, 2);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

// __newindex of a read-only data table. Upvalue 1: what it is, for the message.
int data_newindex(lua_State* L) {
  return luaL_error(L, "cannot assign %s to %s: it is read-only", key_text(L, 2), lua_tostring(L, lua_upvalueindex(1)));
}

// __len of a read-only data table. Upvalue 1: the table it stands for.
int proxy_len(lua_State* L) {
  lua_pushinteger(L, static_cast<lua_Integer>(lua_rawlen(L, lua_upvalueindex(1))));
  return 1;
}

bool env_open(lua_State* L, int env) {
  lua_getfield(L, LUA_REGISTRYINDEX, kOpenEnvs);
  lua_pushvalue(L, env);
  const bool open = lua_rawget(L, -2) != LUA_TNIL;
  lua_pop(L, 2);
  return open;
}

// __newindex of a flow environment (env, key, value). Upvalue 1: its globals table.
int env_newindex(lua_State* L) {
  if (host_of(L).running && !env_open(L, 1))
    return luaL_error(L,
                      "assignment to global %s during a turn: a flow's globals are shared by every "
                      "conversation on the worker; use a local variable, or ctx.data for what a "
                      "conversation must remember",
                      key_text(L, 2));
  lua_settop(L, 3);
  lua_rawset(L, lua_upvalueindex(1));
  return 0;
}

void weak_keyed_registry_table(lua_State* L, const char* key) {
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, key);
}

}  // namespace

void protect_libraries(lua_State* L) {
  weak_keyed_registry_table(L, kReadOnly);
  weak_keyed_registry_table(L, kOpenEnvs);
  lua_pushglobaltable(L);
  const int globals = lua_gettop(L);
  for (const char* library : kLibraries) {
    lua_getfield(L, globals, library);
    make_proxy(L, library_newindex, false, library);
    lua_setfield(L, globals, library);
  }
  lua_pushvalue(L, globals);
  make_proxy(L, globals_newindex, false, "the sandbox globals table");
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, kGlobalsView);
  lua_setfield(L, globals, "_G");  // what a load()ed chunk finds as _G
  lua_getfield(L, globals, "rawset");
  lua_pushcclosure(L, sandbox_rawset, 1);
  lua_setfield(L, globals, "rawset");
  lua_pop(L, 1);
}

void make_readonly_tree(lua_State* L, const char* what) {
  const int table = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, table)) {
    if (lua_type(L, -1) == LUA_TTABLE) {
      make_readonly_tree(L, what);
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, table);  // assigning an existing key keeps lua_next valid
    } else {
      lua_pop(L, 1);
    }
  }
  lua_pushvalue(L, table);
  make_proxy(L, data_newindex, false, what);
  lua_getmetatable(L, -1);
  lua_pushvalue(L, table);
  lua_pushcclosure(L, proxy_len, 1);
  lua_setfield(L, -2, "__len");
  lua_pop(L, 1);
  lua_replace(L, table);
}

void push_readonly_globals(lua_State* L) { lua_getfield(L, LUA_REGISTRYINDEX, kGlobalsView); }

void make_env(lua_State* L) {
  lua_pushvalue(L, -1);
  make_proxy(L, env_newindex, true, "the flow's globals table (assign globals normally)");
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "_G");  // the globals table's _G is the proxy
  lua_remove(L, -2);
}

void set_env_open(lua_State* L, int env, bool open) {
  env = lua_absindex(L, env);
  lua_getfield(L, LUA_REGISTRYINDEX, kOpenEnvs);
  lua_pushvalue(L, env);
  if (open) lua_pushboolean(L, 1);
  else lua_pushnil(L);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

}  // namespace charla::lua::detail
