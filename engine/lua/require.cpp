// require(name) for flows: loads <flow dir>/<name>.lua (dots become '/'), text only,
// in its own sandboxed environment, once per flow file (cached by path in a table the
// flow's environment and its modules' share, so two flows never share a module's
// table). Nothing outside the flow's directory can be loaded: names are letters,
// digits, '_', '-' and '.' separators, and the resolved path must stay under the
// directory (symlinks too).
#include "lua/sandbox.hpp"

#include <cstdio>
#include <filesystem>
#include <optional>
#include <system_error>

namespace charla::lua::detail {
namespace {

char loading_sentinel;  // its address marks a module whose chunk is still running
constexpr std::uintmax_t kMaxModuleBytes = 4u << 20;

bool valid_module_name(const char* name, std::size_t len) {
  if (len == 0 || len > 200 || name[0] == '.' || name[len - 1] == '.') return false;
  for (std::size_t i = 0; i < len; ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (c == '.' && name[i + 1] == '.') return false;
    if (!std::isalnum(c) && c != '_' && c != '-' && c != '.') return false;
  }
  return true;
}

// The size of `path` when it resolves (through symlinks) to a regular file under
// `dir`; nullopt otherwise.
std::optional<std::uintmax_t> module_size(const char* dir, const char* path) noexcept {
  try {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path base = fs::weakly_canonical(dir, ec);
    if (ec) return std::nullopt;
    const fs::path file = fs::weakly_canonical(path, ec);
    if (ec) return std::nullopt;
    const fs::path rel = file.lexically_relative(base);
    if (rel.empty() || *rel.begin() == ".." || !fs::is_regular_file(file, ec)) return std::nullopt;
    const std::uintmax_t size = fs::file_size(file, ec);
    if (ec) return std::nullopt;
    return size;
  } catch (...) {
    return std::nullopt;
  }
}

// Pushes the file's text. The Lua buffer is allocated before the file is opened, so a
// memory error cannot skip fclose.
bool push_file_text(lua_State* L, const char* path, std::size_t size) {
  luaL_Buffer buffer;
  char* data = luaL_buffinitsize(L, &buffer, size);
  std::FILE* file = std::fopen(path, "rb");
  if (!file) return false;
  const std::size_t n = std::fread(data, 1, size, file);
  std::fclose(file);
  luaL_pushresultsize(&buffer, n);
  return true;
}

void push_env(lua_State* L, std::string_view dir, int cache);

// Stack on entry: 1 name, 2 path, 3 module cache.
int load_module(lua_State* L, const char* dir, const char* name) {
  const char* path = lua_tostring(L, 2);
  const std::optional<std::uintmax_t> size = module_size(dir, path);
  if (size && *size > kMaxModuleBytes) return luaL_error(L, "require('%s'): module too large", name);
  if (!size || !push_file_text(L, path, static_cast<std::size_t>(*size)))
    return luaL_error(L, "require('%s'): module not found (looked for %s)", name, path);
  std::size_t len = 0;
  const char* text = lua_tolstring(L, -1, &len);
  lua_pushfstring(L, "@%s", path);
  if (luaL_loadbufferx(L, text, len, lua_tostring(L, -1), "t") != LUA_OK) return lua_error(L);
  push_env(L, dir, 3);
  lua_pushvalue(L, -1);
  lua_setupvalue(L, -3, 1);  // a text chunk's only upvalue is _ENV
  lua_insert(L, -2);         // env below the chunk: it stays on the stack while the chunk runs
  const int env = lua_gettop(L) - 1;
  lua_pushvalue(L, 2);
  lua_pushlightuserdata(L, &loading_sentinel);
  lua_rawset(L, 3);
  lua_pushstring(L, name);
  set_env_open(L, env, true);  // the module's top level may define globals, even when required during a turn
  const int status = lua_pcall(L, 1, 1, 0);
  set_env_open(L, env, false);
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
  lua_pushvalue(L, lua_upvalueindex(2));  // 3: cache
  lua_pushvalue(L, 2);
  const int cached = lua_rawget(L, 3);
  if (cached == LUA_TLIGHTUSERDATA) return luaL_error(L, "require('%s'): loop while loading the module", name);
  if (cached != LUA_TNIL) return 1;
  lua_pop(L, 1);
  return load_module(L, dir, name);
}

// Pushes an environment whose require uses the module cache at `cache`.
void push_env(lua_State* L, std::string_view dir, int cache) {
  cache = lua_absindex(L, cache);
  lua_createtable(L, 0, 2);
  lua_pushlstring(L, dir.data(), dir.size());
  lua_pushvalue(L, cache);
  lua_pushcclosure(L, sandbox_require, 2);
  lua_setfield(L, -2, "require");
  luaL_setmetatable(L, kEnvMeta);
  make_env(L);
}

}  // namespace

void push_flow_env(lua_State* L, std::string_view dir) {
  lua_newtable(L);  // the flow's module cache
  push_env(L, dir, -1);
  lua_remove(L, -2);
}

}  // namespace charla::lua::detail
