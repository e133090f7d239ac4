// ctx.settings: the flow's settings block from the configuration (`flow_settings`),
// so test and production differ by config, not by code. Built once per host, when
// the host starts, as read-only tables (readonly.cpp): one lua_State serves every
// conversation of a worker, so a flow writing into its settings would change them for
// every other conversation. A flow with no block gets an empty table.
#include "lua/ctx.hpp"
#include "lua/json_lua.hpp"
#include "lua/sandbox.hpp"

namespace charla::lua::detail {
namespace {

constexpr const char* kSettings = "charla.settings";  // flow name -> read-only table; "" -> empty one
constexpr const char* kWhat = "ctx.settings (settings come from the config's flow_settings)";

int settings_get(lua_State* L) {
  const Turn& turn = check_ctx(L, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, kSettings);
  lua_pushlstring(L, turn.input.flow.data(), turn.input.flow.size());
  if (lua_rawget(L, -2) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_pushliteral(L, "");
    lua_rawget(L, -2);
  }
  return 1;
}

}  // namespace

void register_settings(Host& host) {
  lua_State* L = host.L;
  lua_newtable(L);
  lua_newtable(L);
  make_readonly_tree(L, kWhat);
  lua_setfield(L, -2, "");
  for (const auto& [flow, block] : host.options.flow_settings) {
    push_json(L, block);
    if (lua_type(L, -1) != LUA_TTABLE) {  // config.cpp accepts objects only; be safe
      lua_pop(L, 1);
      lua_newtable(L);
    }
    make_readonly_tree(L, kWhat);
    lua_setfield(L, -2, flow.c_str());
  }
  lua_setfield(L, LUA_REGISTRYINDEX, kSettings);
  add_ctx_field(L, "settings", settings_get, nullptr);
}

}  // namespace charla::lua::detail
