#include "lua/ctx.hpp"

#include "lua/json_lua.hpp"

namespace charla::lua::detail {
namespace {

const char* dead_reason(const Host& host, std::uint64_t generation) {
  return host.turns.count(generation) ? "used outside its turn (it belongs to another, suspended turn)"
                                      : "used after its turn ended";
}

bool is_running(const Host& host, std::uint64_t generation) {
  return host.running && host.running->generation == generation;
}

// __index(ctx, key): fields first (getters), then methods. Upvalues: getters, methods.
int ctx_index(lua_State* L) {
  check_ctx(L, 1);
  if (lua_type(L, 2) != LUA_TSTRING) return 0;
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) == LUA_TFUNCTION) {
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    return 1;
  }
  lua_pop(L, 1);
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(2));
  return 1;
}

// __newindex(ctx, key, value). Upvalues: setters, getters.
int ctx_newindex(lua_State* L) {
  check_ctx(L, 1);
  const char* key = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "?";
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) == LUA_TFUNCTION) {
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 3);
    lua_call(L, 2, 0);
    return 0;
  }
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(2)) != LUA_TNIL) return luaL_error(L, "ctx.%s is read-only", key);
  return luaL_error(L, "cannot set ctx.%s: ctx has no such field (keep your values in ctx.data)", key);
}

int ctx_tostring(lua_State* L) {
  lua_pushliteral(L, "ctx");
  return 1;
}

// msg: the table of the inbound message behind a proxy that dies with its turn.
int check_msg(lua_State* L) {
  auto* box = static_cast<ObjectBox*>(luaL_checkudata(L, 1, kMsgMeta));
  const Host& host = host_of(L);
  if (!is_running(host, box->generation)) return luaL_error(L, "msg %s", dead_reason(host, box->generation));
  lua_getiuservalue(L, 1, 1);
  return lua_gettop(L);
}

int msg_index(lua_State* L) {
  const int table = check_msg(L);
  lua_pushvalue(L, 2);
  lua_rawget(L, table);
  return 1;
}

int msg_newindex(lua_State* L) {
  const int table = check_msg(L);
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  lua_rawset(L, table);
  return 0;
}

int msg_len(lua_State* L) {
  const int table = check_msg(L);
  lua_pushinteger(L, static_cast<lua_Integer>(lua_rawlen(L, table)));
  return 1;
}

int msg_pairs(lua_State* L) {
  const int table = check_msg(L);
  lua_pushvalue(L, lua_upvalueindex(1));  // the real `next`, whatever flows did to _G
  lua_pushvalue(L, table);
  lua_pushnil(L);
  return 3;
}

int msg_tostring(lua_State* L) {
  lua_pushliteral(L, "msg");
  return 1;
}

void new_registry_table(lua_State* L, const char* key) {
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, key);
}

}  // namespace

void create_ctx_metatables(lua_State* L) {
  new_registry_table(L, kCtxGetters);
  new_registry_table(L, kCtxSetters);
  new_registry_table(L, kCtxMethods);

  luaL_newmetatable(L, kCtxMeta);
  lua_getfield(L, LUA_REGISTRYINDEX, kCtxGetters);
  lua_getfield(L, LUA_REGISTRYINDEX, kCtxMethods);
  lua_pushcclosure(L, ctx_index, 2);
  lua_setfield(L, -2, "__index");
  lua_getfield(L, LUA_REGISTRYINDEX, kCtxSetters);
  lua_getfield(L, LUA_REGISTRYINDEX, kCtxGetters);
  lua_pushcclosure(L, ctx_newindex, 2);
  lua_setfield(L, -2, "__newindex");
  lua_pushcfunction(L, ctx_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushliteral(L, "ctx");  // getmetatable(ctx) must not hand out the real one
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);

  const luaL_Reg msg_meta[] = {{"__index", msg_index}, {"__newindex", msg_newindex}, {"__len", msg_len},
                               {"__tostring", msg_tostring}, {nullptr, nullptr}};
  luaL_newmetatable(L, kMsgMeta);
  luaL_setfuncs(L, msg_meta, 0);
  lua_getglobal(L, "next");
  lua_pushcclosure(L, msg_pairs, 1);
  lua_setfield(L, -2, "__pairs");
  lua_pushliteral(L, "msg");
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);
}

void add_ctx_method(lua_State* L, const char* name, lua_CFunction method) {
  lua_getfield(L, LUA_REGISTRYINDEX, kCtxMethods);
  lua_pushcfunction(L, method);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
}

void add_ctx_field(lua_State* L, const char* name, lua_CFunction getter, lua_CFunction setter) {
  lua_getfield(L, LUA_REGISTRYINDEX, kCtxGetters);
  lua_pushcfunction(L, getter);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
  if (!setter) return;
  lua_getfield(L, LUA_REGISTRYINDEX, kCtxSetters);
  lua_pushcfunction(L, setter);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
}

Turn& check_ctx(lua_State* L, int index) {
  auto* box = static_cast<ObjectBox*>(luaL_testudata(L, index, kCtxMeta));
  if (!box) luaL_error(L, "expected ctx as first argument (call methods with ':', as in ctx:say(...))");
  Host& host = host_of(L);
  if (!is_running(host, box->generation)) luaL_error(L, "ctx %s", dead_reason(host, box->generation));
  return *host.running;
}

void push_ctx(lua_State* L, const Turn& turn) {
  auto* box = static_cast<ObjectBox*>(lua_newuserdatauv(L, sizeof(ObjectBox), 1));
  box->generation = turn.generation;
  luaL_setmetatable(L, kCtxMeta);
  lua_rotate(L, -2, 1);  // data table on top
  lua_setiuservalue(L, -2, 1);
}

void push_msg(lua_State* L, const Turn& turn) {
  auto* box = static_cast<ObjectBox*>(lua_newuserdatauv(L, sizeof(ObjectBox), 1));
  box->generation = turn.generation;
  luaL_setmetatable(L, kMsgMeta);
  lua_rotate(L, -2, 1);
  lua_setiuservalue(L, -2, 1);
}

std::string_view check_text(lua_State* L, int index, const char* method, const char* what, bool allow_empty) {
  if (lua_type(L, index) != LUA_TSTRING)
    luaL_error(L, "%s: %s must be a string, got %s", method, what, luaL_typename(L, index));
  std::size_t len = 0;
  const char* s = lua_tolstring(L, index, &len);
  if (len == 0 && !allow_empty) luaL_error(L, "%s: %s must not be empty", method, what);
  if (!valid_utf8({s, len})) luaL_error(L, "%s: %s is not valid UTF-8", method, what);
  return {s, len};
}

std::string_view opt_text(lua_State* L, int index, const char* method, const char* what) {
  if (lua_isnoneornil(L, index)) return {};
  return check_text(L, index, method, what);
}

}  // namespace charla::lua::detail
