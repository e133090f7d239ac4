// ctx.data (the conversation's persistent table), ctx:history and ctx:transcript.
//
// Errors (raise with file:line): assigning ctx.data anything but a table; a count
// that is not a non-negative integer. Nothing here returns nil, err. Whether ctx.data
// can be stored (no functions, cycles, ...) is checked once at the end of the turn,
// which then fails with error_kind "data".
#include "lua/ctx.hpp"
#include "lua/json_lua.hpp"

namespace charla::lua::detail {
namespace {

using nlohmann::json;

int data_get(lua_State* L) {
  check_ctx(L, 1);
  lua_getiuservalue(L, 1, 1);
  return 1;
}

int data_set(lua_State* L) {
  check_ctx(L, 1);
  if (lua_type(L, 2) != LUA_TTABLE) return luaL_error(L, "ctx.data must be a table, got %s", luaL_typename(L, 2));
  lua_pushvalue(L, 2);
  lua_setiuservalue(L, 1, 1);
  return 0;
}

const json& history_of(const Turn& turn) {
  static const json kNone = json::array();
  return turn.input.history ? *turn.input.history : kNone;
}

// The history entries a flow may see: the last history_limit of input.history.
std::pair<std::size_t, std::size_t> visible_history(const Turn& turn, const Host& host) {
  const json& history = history_of(turn);
  const std::size_t size = history.is_array() ? history.size() : 0;
  const std::size_t shown = std::min(size, host.options.history_limit);
  return {size - shown, size};
}

std::size_t check_count(lua_State* L, int index, const char* method, std::size_t fallback) {
  if (lua_isnoneornil(L, index)) return fallback;
  lua_Integer n = 0;
  if (lua_type(L, index) != LUA_TNUMBER || !lua_isinteger(L, index) || (n = lua_tointeger(L, index)) < 0)
    luaL_error(L, "%s: count must be a non-negative integer", method);
  return static_cast<std::size_t>(n);
}

int ctx_history(lua_State* L) {
  Turn& turn = check_ctx(L, 1);
  auto [first, end] = visible_history(turn, host_of(L));
  const std::size_t n = check_count(L, 2, "ctx:history", end - first);
  if (n < end - first) first = end - n;
  lua_createtable(L, static_cast<int>(end - first), 0);
  lua_Integer i = 0;
  for (std::size_t k = first; k < end; ++k) {
    push_json(L, history_of(turn)[k]);
    lua_rawseti(L, -2, ++i);
  }
  return 1;
}

// The entry's text, or "[image]"-style placeholder for entries without text.
void push_entry_text(lua_State* L, const json& entry) {
  auto text = entry.find("text");
  if (text != entry.end() && text->is_string()) {
    const auto& s = text->get_ref<const std::string&>();
    lua_pushlstring(L, s.data(), s.size());
    return;
  }
  auto type = entry.find("type");
  const char* kind = type != entry.end() && type->is_string() ? type->get_ref<const std::string&>().c_str() : "message";
  lua_pushfstring(L, "[%s]", kind);
}

bool is_inbound(const json& entry) {
  auto dir = entry.find("dir");
  return dir != entry.end() && dir->is_string() && dir->get_ref<const std::string&>() == "in";
}

// ctx:transcript() -> "Cliente: ...\nAsistente: ..." for prompts;
// ctx:transcript{ last = N } -> { {role="user"|"assistant", content=...}, ... } for chat APIs.
int ctx_transcript(lua_State* L) {
  Turn& turn = check_ctx(L, 1);
  auto [first, end] = visible_history(turn, host_of(L));
  const bool as_messages = lua_type(L, 2) == LUA_TTABLE;
  std::size_t n = end - first;
  if (as_messages) {
    lua_getfield(L, 2, "last");
    n = check_count(L, -1, "ctx:transcript", n);
    lua_pop(L, 1);
  } else {
    n = check_count(L, 2, "ctx:transcript", n);
  }
  if (n < end - first) first = end - n;
  const json& history = history_of(turn);
  if (as_messages) {
    lua_createtable(L, static_cast<int>(end - first), 0);
    lua_Integer i = 0;
    for (std::size_t k = first; k < end; ++k) {
      lua_createtable(L, 0, 2);
      lua_pushstring(L, is_inbound(history[k]) ? "user" : "assistant");
      lua_setfield(L, -2, "role");
      push_entry_text(L, history[k]);
      lua_setfield(L, -2, "content");
      lua_rawseti(L, -2, ++i);
    }
    return 1;
  }
  luaL_Buffer buffer;
  luaL_buffinit(L, &buffer);
  for (std::size_t k = first; k < end; ++k) {
    if (k > first) luaL_addchar(&buffer, '\n');
    luaL_addstring(&buffer, is_inbound(history[k]) ? "Cliente: " : "Asistente: ");
    push_entry_text(L, history[k]);
    luaL_addvalue(&buffer);
  }
  luaL_pushresult(&buffer);
  return 1;
}

}  // namespace

void register_data(lua_State* L) {
  add_ctx_field(L, "data", data_get, data_set);
  add_ctx_method(L, "history", ctx_history);
  add_ctx_method(L, "transcript", ctx_transcript);
}

}  // namespace charla::lua::detail
