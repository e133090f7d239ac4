// require(name) for flows: loads <flow dir>/<name>.lua (dots become '/'), text only,
// in its own sandboxed environment, once per host (cached by path). Nothing outside
// the flow's directory can be loaded: names are letters, digits, '_', '-' and '.'
// separators, and the resolved path must stay under the directory (symlinks too).
#include "lua/sandbox.hpp"

#include <cstdio>
#include <filesystem>
#include <system_error>

namespace charla::lua::detail {
namespace {

char loading_sentinel;  // its address marks a module whose chunk is still running

bool valid_module_name(const char* name, std::size_t len) {
  if (len == 0 || len > 200 || name[0] == '.' || name[len - 1] == '.') return false;
  for (std::size_t i = 0; i < len; ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (c == '.' && name[i + 1] == '.') return false;
    if (!std::isalnum(c) && c != '_' && c != '-' && c != '.') return false;
  }
  return true;
}

// True when `path` resolves (through symlinks) to a file under `dir`.
bool inside_directory(const char* dir, const char* path) noexcept {
  try {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path base = fs::weakly_canonical(dir, ec);
    if (ec) return false;
    const fs::path file = fs::weakly_canonical(path, ec);
    if (ec) return false;
    const fs::path rel = file.lexically_relative(base);
    return !rel.empty() && *rel.begin() != "..";
  } catch (...) {
    return false;
  }
}

// Reads the file into a Lua string with C stdio and a luaL_Buffer, so nothing with a
// C++ destructor is alive if Lua raises. Pushes the text or returns false.
bool push_file_text(lua_State* L, const char* path) {
  std::FILE* file = std::fopen(path, "rb");
  if (!file) return false;
  luaL_Buffer buffer;
  luaL_buffinit(L, &buffer);
  std::size_t n = 0;
  do {
    char* chunk = luaL_prepbuffer(&buffer);
    n = std::fread(chunk, 1, LUAL_BUFFERSIZE, file);
    luaL_addsize(&buffer, n);
  } while (n == LUAL_BUFFERSIZE);
  std::fclose(file);  // a memory error above would leak the FILE*; acceptable for a cap hit
  luaL_pushresult(&buffer);
  return true;
}

// Stack on entry: 1 name, 2 path, 3 module cache.
int load_module(lua_State* L, const char* dir, const char* name) {
  const char* path = lua_tostring(L, 2);
  if (!inside_directory(dir, path) || !push_file_text(L, path))
    return luaL_error(L, "require('%s'): module not found (looked for %s)", name, path);
  std::size_t len = 0;
  const char* text = lua_tolstring(L, -1, &len);
  lua_pushfstring(L, "@%s", path);
  if (luaL_loadbufferx(L, text, len, lua_tostring(L, -1), "t") != LUA_OK) return lua_error(L);
  push_flow_env(L, dir);
  lua_setupvalue(L, -2, 1);  // a text chunk's only upvalue is _ENV
  lua_pushvalue(L, 2);
  lua_pushlightuserdata(L, &loading_sentinel);
  lua_rawset(L, 3);
  lua_pushstring(L, name);
  const int status = lua_pcall(L, 1, 1, 0);
  if (status != LUA_OK) {
    lua_pushvalue(L, 2);  // forget the half-loaded module, then re-raise
    lua_pushnil(L);
    lua_rawset(L, 3);
    return lua_error(L);
  }
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
  }
  lua_pushvalue(L, 2);
  lua_pushvalue(L, -2);
  lua_rawset(L, 3);
  return 1;
}

int sandbox_require(lua_State* L) {
  std::size_t len = 0;
  const char* name = luaL_checklstring(L, 1, &len);
  if (!valid_module_name(name, len))
    return luaL_error(L, "require('%s'): module names are letters, digits, '_', '-' and '.'; "
                         "modules load only from the flow's directory", name);
  const char* dir = lua_tostring(L, lua_upvalueindex(1));
  lua_settop(L, 1);
  luaL_Buffer buffer;
  luaL_buffinit(L, &buffer);
  luaL_addstring(&buffer, dir);
  luaL_addchar(&buffer, '/');
  for (std::size_t i = 0; i < len; ++i) luaL_addchar(&buffer, name[i] == '.' ? '/' : name[i]);
  luaL_addstring(&buffer, ".lua");
  luaL_pushresult(&buffer);  // 2: path
  lua_getfield(L, LUA_REGISTRYINDEX, kModules);  // 3: cache
  lua_pushvalue(L, 2);
  const int cached = lua_rawget(L, 3);
  if (cached == LUA_TLIGHTUSERDATA) return luaL_error(L, "require('%s'): loop while loading the module", name);
  if (cached != LUA_TNIL) return 1;
  lua_pop(L, 1);
  return load_module(L, dir, name);
}

}  // namespace

void push_flow_env(lua_State* L, std::string_view dir) {
  lua_createtable(L, 0, 1);
  lua_pushlstring(L, dir.data(), dir.size());
  lua_pushcclosure(L, sandbox_require, 1);
  lua_setfield(L, -2, "require");
  luaL_setmetatable(L, kEnvMeta);
}

void clear_module_cache(lua_State* L) {
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, kModules);
}

}  // namespace charla::lua::detail
