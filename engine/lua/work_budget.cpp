// Charging library work to the turn budget (see work_budget.hpp). The wrappers here
// run inside Lua calls and may raise: they hold no C++ objects with destructors.
#include "lua/work_budget.hpp"

#include "lua/sandbox.hpp"
#include "lua/vendor/charla_vendor.h"

#include <algorithm>
#include <limits>

namespace charla::lua::detail {
namespace {

// Charges read the clock at most once per this many units (the hook reads it at
// every call, once per Host::hook_step instructions).
constexpr std::uint64_t kClockEvery = 4096;

// What a wrapped function's work is proportional to.
enum class Measure {
  none,
  first_string,  // the length of argument 1 (when it is a string)
  string_args,   // the lengths of all string arguments
  arg_count,     // the number of arguments
  results,       // the number of results and the lengths of string results
};

struct Charged {
  const char* table;  // nullptr: a global function
  const char* name;
  const char* what;   // for the budget error
  Measure before;
  Measure after;
};

constexpr Charged kCharged[] = {
    {"string", "byte", "string.byte", Measure::none, Measure::results},
    {"string", "char", "string.char", Measure::arg_count, Measure::none},
    {"string", "format", "string.format", Measure::none, Measure::results},
    {"string", "lower", "string.lower", Measure::first_string, Measure::none},
    {"string", "upper", "string.upper", Measure::first_string, Measure::none},
    {"string", "reverse", "string.reverse", Measure::first_string, Measure::none},
    {"string", "sub", "string.sub", Measure::none, Measure::results},
    {"string", "pack", "string.pack", Measure::none, Measure::results},
    {"string", "packsize", "string.packsize", Measure::first_string, Measure::none},
    {"string", "unpack", "string.unpack", Measure::none, Measure::results},
    {"utf8", "char", "utf8.char", Measure::arg_count, Measure::none},
    {"utf8", "codepoint", "utf8.codepoint", Measure::none, Measure::results},
    {"utf8", "len", "utf8.len", Measure::first_string, Measure::none},
    {"utf8", "offset", "utf8.offset", Measure::first_string, Measure::none},
    {nullptr, "tonumber", "tonumber", Measure::first_string, Measure::none},
    {nullptr, "print", "print", Measure::string_args, Measure::none},
};

// The string metatable's arithmetic metamethods convert their string operands.
constexpr const char* kStringArith[] = {"__add", "__sub", "__mul", "__mod", "__pow", "__div", "__idiv", "__unm"};

std::uint64_t measure(lua_State* L, Measure m, int first, int last) {
  std::uint64_t units = 0;
  switch (m) {
    case Measure::none: return 0;
    case Measure::arg_count: return static_cast<std::uint64_t>(last - first + 1);
    case Measure::first_string:
      return first <= last && lua_type(L, first) == LUA_TSTRING ? byte_units(lua_rawlen(L, first)) : 1;
    case Measure::string_args:
    case Measure::results:
      for (int i = first; i <= last; ++i) {
        if (lua_type(L, i) == LUA_TSTRING) units += byte_units(lua_rawlen(L, i));
        else if (m == Measure::results) ++units;
      }
      return units;
  }
  return 0;
}

// Upvalues: 1 the original function, 2 the index of its kCharged entry (or, for the
// string metamethods, upvalue 2 is nil and the measure is string_args).
int charged_call(lua_State* L) {
  const Charged* entry = nullptr;
  if (lua_isinteger(L, lua_upvalueindex(2))) entry = &kCharged[lua_tointeger(L, lua_upvalueindex(2))];
  const int nargs = lua_gettop(L);
  const char* what = entry ? entry->what : "string arithmetic";
  if (const std::uint64_t units = measure(L, entry ? entry->before : Measure::string_args, 1, nargs)) charge(L, units, what);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, nargs, LUA_MULTRET);
  const int nresults = lua_gettop(L);
  if (entry)
    if (const std::uint64_t units = measure(L, entry->after, 1, nresults)) charge(L, units, what);
  return nresults;
}

// string.rep(s, n [, sep]): an empty result is returned at once (the stock function
// loops n times copying nothing), and a result larger than the Lua memory cap is
// refused before anything is allocated. Upvalue 1: the original.
int charged_rep(lua_State* L) {
  std::size_t len = 0;
  std::size_t sep_len = 0;
  luaL_checklstring(L, 1, &len);
  const lua_Integer n = luaL_checkinteger(L, 2);
  luaL_optlstring(L, 3, "", &sep_len);
  if (n <= 0 || len + sep_len == 0) {
    lua_pushliteral(L, "");
    return 1;
  }
  const auto count = static_cast<std::uint64_t>(n);
  const std::uint64_t unit = static_cast<std::uint64_t>(len) + sep_len;
  const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  const std::uint64_t total = unit > max / count ? max : unit * count - sep_len;
  Host& host = host_of(L);
  if (total > host.options.memory_limit) {
    if (host.budget) host.budget->kill = Budget::Kill::memory;
    luaL_where(L, 1);
    return luaL_error(L, "%sstring.rep: a result of %I bytes is larger than the Lua memory limit (%I bytes)",
                      lua_tostring(L, -1), static_cast<LUAI_UACINT>(std::min<std::uint64_t>(total, LUA_MAXINTEGER)),
                      static_cast<LUAI_UACINT>(host.options.memory_limit));
  }
  // The stock loop copies once per repetition: short strings cost per copy, not per byte.
  charge(L, count + byte_units(static_cast<std::size_t>(total)), "string.rep");
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

// The iterator utf8.codes returns skips continuation bytes in a loop, from any
// position a caller passes: it charges the distance it moved. Upvalue 1: the original.
int charged_codes_step(lua_State* L) {
  const bool is_string = lua_type(L, 1) == LUA_TSTRING;
  const std::size_t len = is_string ? lua_rawlen(L, 1) : 0;
  const lua_Integer from = lua_isinteger(L, 2) ? lua_tointeger(L, 2) : 0;
  lua_settop(L, 2);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, 2, LUA_MULTRET);
  lua_Integer to = static_cast<lua_Integer>(len);
  if (lua_gettop(L) >= 1 && lua_isinteger(L, 1)) to = lua_tointeger(L, 1);
  const lua_Integer moved = to > from ? to - from : 0;
  charge(L, byte_units(static_cast<std::size_t>(moved)), "utf8.codes");
  return lua_gettop(L);
}

// utf8.codes(s [, lax]): the stock function, with its iterator charged.
// Upvalue 1: the original utf8.codes.
int charged_codes(lua_State* L) {
  const int nargs = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, nargs, LUA_MULTRET);
  if (lua_gettop(L) >= 1 && lua_type(L, 1) == LUA_TFUNCTION) {
    lua_pushvalue(L, 1);
    lua_pushcclosure(L, charged_codes_step, 1);
    lua_replace(L, 1);
  }
  return lua_gettop(L);
}

// Replaces table[name] (the table at `index`) with `wrapper`, whose upvalue 1 is
// the original and upvalue 2 `entry` (nil when negative).
void wrap_field(lua_State* L, int index, const char* name, lua_CFunction wrapper, int entry) {
  index = lua_absindex(L, index);
  lua_getfield(L, index, name);
  if (entry >= 0) lua_pushinteger(L, entry);
  else lua_pushnil(L);
  lua_pushcclosure(L, wrapper, 2);
  lua_setfield(L, index, name);
}

void push_library(lua_State* L, const char* table) {
  if (table) lua_getglobal(L, table);
  else lua_pushglobaltable(L);
}

}  // namespace

std::uint64_t byte_units(std::size_t bytes) { return bytes / CHARLA_BYTES_PER_UNIT + 1; }

bool check_deadline(Budget& budget) {
  if (budget.deadline == std::chrono::steady_clock::time_point::max()) return false;
  if (std::chrono::steady_clock::now() < budget.deadline) return false;
  budget.kill = Budget::Kill::time;
  return true;
}

void charge(lua_State* L, std::uint64_t units, const char* what) {
  Budget* budget = host_of(L).budget;
  if (!budget) return;
  if (budget->kill == Budget::Kill::none) {
    const std::uint64_t left = std::numeric_limits<std::uint64_t>::max() - budget->used;
    budget->used += units < left ? units : left;
    if (budget->used > budget->limit) {
      budget->kill = Budget::Kill::instructions;
    } else if (budget->used >= budget->clock_at) {
      budget->clock_at = budget->used + kClockEvery;
      check_deadline(*budget);
    }
    if (budget->kill == Budget::Kill::none) return;
  }
  raise_killed(L, *budget, 1, what);
}

void install_charged_libraries(lua_State* L) {
  push_library(L, LUA_STRLIBNAME);
  const luaL_Reg matcher[] = {{"find", charla_str_find},
                              {"match", charla_str_match},
                              {"gmatch", charla_str_gmatch},
                              {"gsub", charla_str_gsub},
                              {nullptr, nullptr}};
  luaL_setfuncs(L, matcher, 0);
  wrap_field(L, -1, "rep", charged_rep, -1);
  lua_pop(L, 1);

  int index = 0;
  for (const Charged& entry : kCharged) {
    push_library(L, entry.table);
    wrap_field(L, -1, entry.name, charged_call, index++);
    lua_pop(L, 1);
  }

  push_library(L, LUA_UTF8LIBNAME);
  wrap_field(L, -1, "codes", charged_codes, -1);
  lua_pop(L, 1);

  lua_pushliteral(L, "");
  lua_getmetatable(L, -1);
  for (const char* event : kStringArith) wrap_field(L, -1, event, charged_call, -1);
  lua_pop(L, 2);
}

}  // namespace charla::lua::detail

extern "C" void charla_lua_charge(lua_State* L, lua_Unsigned units, const char* what) {
  charla::lua::detail::charge(L, static_cast<std::uint64_t>(units), what);
}
