#include "lua/json_lua.hpp"

#include "lua/host.hpp"
#include "lua/turn.hpp"

#include <cctype>
#include <cmath>
#include <vector>

namespace charla::lua::detail {
namespace {

constexpr int kMaxDepth = 100;

void push_json_at(lua_State* L, const nlohmann::json& v, int depth) {
  if (depth > kMaxDepth) luaL_error(L, "JSON value nested too deeply");
  luaL_checkstack(L, 3, "JSON value nested too deeply");
  switch (v.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded: lua_pushnil(L); return;
    case nlohmann::json::value_t::boolean: lua_pushboolean(L, v.get<bool>()); return;
    case nlohmann::json::value_t::number_integer: lua_pushinteger(L, v.get<std::int64_t>()); return;
    case nlohmann::json::value_t::number_unsigned: {
      const auto u = v.get<std::uint64_t>();
      if (u <= static_cast<std::uint64_t>(LUA_MAXINTEGER)) lua_pushinteger(L, static_cast<lua_Integer>(u));
      else lua_pushnumber(L, static_cast<lua_Number>(u));
      return;
    }
    case nlohmann::json::value_t::number_float: lua_pushnumber(L, v.get<double>()); return;
    case nlohmann::json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      lua_pushlstring(L, s.data(), s.size());
      return;
    }
    case nlohmann::json::value_t::binary: lua_pushnil(L); return;
    case nlohmann::json::value_t::array: {
      lua_createtable(L, static_cast<int>(v.size()), 0);
      lua_Integer i = 0;
      for (const auto& item : v) {
        push_json_at(L, item, depth + 1);
        lua_rawseti(L, -2, ++i);
      }
      return;
    }
    case nlohmann::json::value_t::object: {
      lua_createtable(L, 0, static_cast<int>(v.size()));
      for (auto it = v.begin(); it != v.end(); ++it) {
        const std::string& key = it.key();
        lua_pushlstring(L, key.data(), key.size());
        push_json_at(L, it.value(), depth + 1);
        lua_rawset(L, -3);
      }
      return;
    }
  }
  lua_pushnil(L);
}

bool is_identifier(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  return true;
}

// The length of `s` as a JSON string, quotes and escapes included.
std::size_t json_string_size(std::string_view s) {
  std::size_t size = s.size() + 2;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t') size += 1;
    else if (u < 0x20) size += 5;  // \u00XX
  }
  return size;
}

std::size_t integer_size(lua_Integer n) {
  std::size_t size = n < 0 ? 2 : 1;
  for (lua_Unsigned u = n < 0 ? 0u - static_cast<lua_Unsigned>(n) : static_cast<lua_Unsigned>(n); u >= 10; u /= 10)
    ++size;
  return size;
}

// Walks a Lua value with raw accesses only. `path` grows and shrinks as it descends
// so the first failure can name the exact key. The size of the JSON text is counted
// as it goes and the walk stops past `max_bytes`: a table referenced from several
// places is converted (and counted) once per place, so `t = {t, t}` repeated K times
// would otherwise take 2^K steps and memory outside the Lua cap.
class Converter {
 public:
  Converter(lua_State* L, std::string& error, std::string_view verb, std::size_t max_bytes)
      : L_(L), error_(error), verb_(verb), max_bytes_(max_bytes) {}

  bool convert(int index, nlohmann::json& out, std::string& path) {
    index = lua_absindex(L_, index);
    if (!count(1, path)) return false;  // at least one byte per value, and the separator
    switch (lua_type(L_, index)) {
      case LUA_TNIL: out = nullptr; return count(4, path);
      case LUA_TBOOLEAN: out = lua_toboolean(L_, index) != 0; return count(5, path);
      case LUA_TNUMBER: return number(index, out, path);
      case LUA_TSTRING: return string(index, out, path);
      case LUA_TTABLE: return table(index, out, path);
      case LUA_TUSERDATA: return userdata(index, out, path);
      case LUA_TFUNCTION: return fail(path, "functions");
      case LUA_TTHREAD: return fail(path, "coroutines");
      default: return fail(path, "light userdata");
    }
  }

 private:
  bool fail(const std::string& path, std::string_view what) {
    error_ = path + ": " + std::string(what) + " cannot be " + std::string(verb_);
    return false;
  }

  bool count(std::size_t bytes, const std::string& path) {
    bytes_ += bytes;
    if (bytes_ <= max_bytes_) return true;
    error_ = path + ": the value is larger than " + std::to_string(max_bytes_) +
             " bytes as JSON (a table referenced from several places counts once per place)";
    return false;
  }

  bool number(int index, nlohmann::json& out, const std::string& path) {
    if (lua_isinteger(L_, index)) {
      out = static_cast<std::int64_t>(lua_tointeger(L_, index));
      return count(integer_size(lua_tointeger(L_, index)), path);
    }
    const double d = lua_tonumber(L_, index);
    if (!std::isfinite(d)) return fail(path, "NaN and infinite numbers");
    out = d;
    return count(24, path);  // the longest a double prints as
  }

  bool string(int index, nlohmann::json& out, const std::string& path) {
    std::size_t len = 0;
    const char* s = lua_tolstring(L_, index, &len);  // a string already: no conversion
    if (!valid_utf8({s, len})) return fail(path, "strings that are not valid UTF-8");
    if (!count(json_string_size({s, len}), path)) return false;
    out = std::string(s, len);
    return true;
  }

  // The running turn's msg proxy converts as the table it wraps; anything else is refused.
  bool userdata(int index, nlohmann::json& out, std::string& path) {
    if (!lua_getmetatable(L_, index)) return fail(path, "userdata");
    lua_getfield(L_, LUA_REGISTRYINDEX, kMsgMeta);
    const bool is_msg = lua_rawequal(L_, -1, -2);
    lua_pop(L_, 2);
    if (!is_msg) return fail(path, "userdata (such as ctx)");
    const auto* box = static_cast<const ObjectBox*>(lua_touserdata(L_, index));
    const Turn* running = host_of(L_).running;
    if (!running || running->generation != box->generation) return fail(path, "a msg of another turn");
    lua_getiuservalue(L_, index, 1);
    const bool ok = convert(-1, out, path);
    lua_pop(L_, 1);
    return ok;
  }

  bool table(int index, nlohmann::json& out, std::string& path) {
    const void* self = lua_topointer(L_, index);
    for (const void* p : parents_)
      if (p == self) return fail(path, "cyclic tables");
    if (parents_.size() >= static_cast<std::size_t>(kMaxDepth)) return fail(path, "tables nested this deeply");
    if (!lua_checkstack(L_, 4)) return fail(path, "tables nested this deeply");
    parents_.push_back(self);
    const bool ok = count(2, path) && (is_sequence(index) ? array(index, out, path) : object(index, out, path));
    parents_.pop_back();
    return ok;
  }

  // True when the keys are exactly 1..n with n >= 1. Also rejects unusable keys early.
  bool is_sequence(int index) {
    lua_Integer count = 0;
    bool all_positive_ints = true;
    lua_Integer max = 0;
    lua_pushnil(L_);
    while (lua_next(L_, index)) {
      lua_pop(L_, 1);
      ++count;
      if (lua_type(L_, -1) == LUA_TNUMBER && lua_isinteger(L_, -1)) {
        const lua_Integer k = lua_tointeger(L_, -1);
        if (k < 1) all_positive_ints = false;
        if (k > max) max = k;
      } else {
        all_positive_ints = false;
      }
    }
    return count > 0 && all_positive_ints && max == count;
  }

  bool array(int index, nlohmann::json& out, std::string& path) {
    out = nlohmann::json::array();
    const lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L_, index));
    const std::size_t base = path.size();
    for (lua_Integer i = 1; i <= n; ++i) {
      path.append("[").append(std::to_string(i)).append("]");
      lua_rawgeti(L_, index, i);
      nlohmann::json item;
      const bool ok = convert(-1, item, path);
      lua_pop(L_, 1);
      if (!ok) return false;
      out.push_back(std::move(item));
      path.resize(base);
    }
    return true;
  }

  bool object(int index, nlohmann::json& out, std::string& path) {
    out = nlohmann::json::object();
    const std::size_t base = path.size();
    lua_pushnil(L_);
    while (lua_next(L_, index)) {
      std::string key;
      if (!key_text(-2, key, path)) {
        lua_pop(L_, 2);
        return false;
      }
      if (is_identifier(key))
        path.append(".").append(key);
      else
        path.append("[\"").append(key).append("\"]");
      if (!count(json_string_size(key) + 1, path)) {  // "key":
        lua_pop(L_, 2);
        return false;
      }
      nlohmann::json item;
      const bool ok = convert(-1, item, path);
      lua_pop(L_, 1);
      if (!ok) {
        lua_pop(L_, 1);
        return false;
      }
      path.resize(base);
      out[key] = std::move(item);
    }
    return true;
  }

  bool key_text(int index, std::string& key, const std::string& path) {
    const int type = lua_type(L_, index);
    if (type == LUA_TSTRING) {
      std::size_t len = 0;
      const char* s = lua_tolstring(L_, index, &len);
      key.assign(s, len);
      if (!valid_utf8(key)) return fail(path, "keys that are not valid UTF-8");
      return true;
    }
    if (type == LUA_TNUMBER && lua_isinteger(L_, index)) {
      key = std::to_string(lua_tointeger(L_, index));  // no lua_tolstring: it would mutate the key
      return true;
    }
    if (type == LUA_TNUMBER) return fail(path, "float keys");
    return fail(path, std::string(lua_typename(L_, type)) + " keys");
  }

  lua_State* L_;
  std::string& error_;
  std::string_view verb_;
  std::size_t max_bytes_;
  std::size_t bytes_ = 0;
  std::vector<const void*> parents_;
};

}  // namespace

void push_json(lua_State* L, const nlohmann::json& value) { push_json_at(L, value, 0); }

bool to_json(lua_State* L, int index, nlohmann::json& out, std::string& error, std::string_view path,
             std::string_view verb, std::size_t max_bytes) {
  try {
    std::string where(path);
    Converter converter(L, error, verb, max_bytes);
    return converter.convert(index, out, where);
  } catch (const std::exception& e) {
    error = std::string(path) + ": " + e.what();
    return false;
  }
}

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t extra = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xE0) == 0xC0) { extra = 1; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { extra = 2; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { extra = 3; cp = c & 0x07; }
    else return false;
    if (extra > s.size() - i - 1) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000)) return false;
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return false;
    i += extra + 1;
  }
  return true;
}

}  // namespace charla::lua::detail
