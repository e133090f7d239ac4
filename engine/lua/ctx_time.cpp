// Local time for flows (no `os` library): ctx:clock, ctx:format_date, ctx:parse_date,
// and business hours, ctx:is_open, ctx:next_open, ctx:hours_text. "Now" is the turn's
// now_ms, read from the engine's runtime::Clock when the turn started, so a fake clock
// (`charla test`, `charla chat --now`) governs all of them. The zone is the flow's
// `timezone` (UTC when absent) unless a call names one.
//
// Errors: an unknown zone, a time argument that is not an epoch-milliseconds number,
// a date text or a clock table, an unknown % conversion, and is_open/next_open/
// hours_text in a flow without `open_hours` raise with file:line. ctx:parse_date reads
// outside data (customer text, HTTP replies), so a bad text returns nil, err.
#include "lua/ctx.hpp"
#include "lua/flow_record.hpp"
#include "lua/local_time.hpp"

#include <date/tz.h>

namespace charla::lua::detail {
namespace {

// 1900-01-01 .. 9999-12-31: beyond, calendar fields stop making sense.
constexpr std::int64_t kMinMs = -2'208'988'800'000;
constexpr std::int64_t kMaxMs = 253'402'300'799'999;
// Below this a number is surely seconds (ctx:now()), not milliseconds: before 1973.
constexpr double kSecondsGuard = 1e11;

// The zone named by the argument at `index`, or the flow's when it is nil.
Zone zone_arg(lua_State* L, int index, const Turn& turn, const char* method) {
  if (lua_isnoneornil(L, index)) return turn.flow->zone;
  const std::string_view name = check_text(L, index, method, "zone");
  const std::optional<Zone> zone = find_zone(name);
  if (!zone)
    luaL_error(L, "%s: unknown time zone '%s' (use an IANA name such as \"America/Santiago\" or \"UTC\")", method,
               lua_tostring(L, index));
  return *zone;
}

const char* zone_name(Zone zone) { return zone ? zone->name().c_str() : "UTC"; }

std::int64_t checked_ms(lua_State* L, double value, const char* method) {
  if (value != value || value < static_cast<double>(kMinMs) || value > static_cast<double>(kMaxMs))
    luaL_error(L, "%s: time %f is outside years 1900..9999 (times are epoch milliseconds)", method, value);
  if (value > -kSecondsGuard && value < kSecondsGuard)
    luaL_error(L, "%s: time %f looks like seconds; times are epoch milliseconds (ctx:now() * 1000)", method, value);
  return static_cast<std::int64_t>(value);
}

// A time argument: nil (now), epoch milliseconds, a date text in `zone`
// ("2026-03-03T10:00", or with an offset), or a table from ctx:clock.
std::int64_t when_arg(lua_State* L, int index, const Turn& turn, Zone zone, const char* method) {
  switch (lua_type(L, index)) {
    case LUA_TNONE:
    case LUA_TNIL: return turn.input.now_ms;
    case LUA_TNUMBER:
      if (lua_isinteger(L, index)) {
        const lua_Integer ms = lua_tointeger(L, index);
        if (ms < kMinMs || ms > kMaxMs || (ms > -kSecondsGuard && ms < kSecondsGuard))
          return checked_ms(L, static_cast<double>(ms), method);
        return ms;
      }
      return checked_ms(L, lua_tonumber(L, index), method);
    case LUA_TSTRING: {
      const std::optional<std::int64_t> ms = parse_local(lua_tostring(L, index), zone);
      if (!ms)
        luaL_error(L, "%s: '%s' is not a date (expected \"2026-03-03T10:00\", \"2026-03-03\" or with an offset "
                      "\"2026-03-03T10:00:00-03:00\"; check outside text with ctx:parse_date first)",
                   method, lua_tostring(L, index));
      return checked_ms(L, static_cast<double>(*ms), method);
    }
    case LUA_TTABLE: {
      lua_getfield(L, index, "epoch_ms");
      if (lua_type(L, -1) != LUA_TNUMBER) luaL_error(L, "%s: a time table needs epoch_ms (as ctx:clock returns)", method);
      const double ms = lua_tonumber(L, -1);
      lua_pop(L, 1);
      return checked_ms(L, ms, method);
    }
    default:
      luaL_error(L, "%s: time must be epoch milliseconds, a date text or a ctx:clock table, got %s", method,
                 luaL_typename(L, index));
      return 0;
  }
}

// Calendar fields of `ms` in `zone`; raises on a tz database error (no C++ object
// is alive when it does: LocalTime is trivially destructible).
LocalTime local_or_raise(lua_State* L, Zone zone, std::int64_t ms, const char* method) {
  LocalTime t;
  Failure failure;
  try {
    t = to_local(zone, ms);
  } catch (const std::exception& e) {
    failure.set(std::string(method) + ": time zone database error: " + e.what());
  }
  if (failure) raise_failure(L, failure);
  return t;
}

void set_int(lua_State* L, const char* key, lua_Integer value) {
  lua_pushinteger(L, value);
  lua_setfield(L, -2, key);
}

// ctx:clock([zone [, when]]) -> { year, month, day, hour, min, sec, wday (1 = lunes ..
// 7 = domingo), yday, iso, epoch_ms, zone, offset_min }
int ctx_clock(lua_State* L) {
  const Turn& turn = check_ctx(L, 1);
  const Zone zone = zone_arg(L, 2, turn, "ctx:clock");
  const std::int64_t ms = when_arg(L, 3, turn, zone, "ctx:clock");
  const LocalTime t = local_or_raise(L, zone, ms, "ctx:clock");
  lua_createtable(L, 0, 12);
  set_int(L, "year", t.year);
  set_int(L, "month", t.month);
  set_int(L, "day", t.day);
  set_int(L, "hour", t.hour);
  set_int(L, "min", t.min);
  set_int(L, "sec", t.sec);
  set_int(L, "wday", t.wday);
  set_int(L, "yday", t.yday);
  set_int(L, "epoch_ms", t.epoch_ms);
  set_int(L, "offset_min", t.offset_min);
  char iso[48];
  t.iso_into(iso, sizeof iso);
  lua_pushstring(L, iso);
  lua_setfield(L, -2, "iso");
  lua_pushstring(L, zone_name(zone));
  lua_setfield(L, -2, "zone");
  return 1;
}

// Formats into turn.scratch (pushed by the caller once every C++ object is gone).
Failure format_into(Turn& turn, const LocalTime& t, std::string_view format) noexcept {
  Failure failure;
  try {
    std::string error;
    turn.scratch = format_spanish(t, format, error);
    if (!error.empty()) failure.set("ctx:format_date: " + error);
  } catch (const std::exception& e) {
    failure.set(std::string("ctx:format_date: ") + e.what());
  }
  return failure;
}

// ctx:format_date(when, [format], [zone]) -> "martes 3 de marzo, 10:00"
int ctx_format_date(lua_State* L) {
  Turn& turn = check_ctx(L, 1);
  if (lua_isnoneornil(L, 2)) return luaL_error(L, "ctx:format_date: missing time (epoch ms, date text or ctx:clock table)");
  const Zone zone = zone_arg(L, 4, turn, "ctx:format_date");
  const std::int64_t ms = when_arg(L, 2, turn, zone, "ctx:format_date");
  const std::string_view format =
      lua_isnoneornil(L, 3) ? std::string_view("%A %-d de %B, %H:%M") : check_text(L, 3, "ctx:format_date", "format");
  const LocalTime t = local_or_raise(L, zone, ms, "ctx:format_date");
  if (const Failure failure = format_into(turn, t, format)) return raise_failure(L, failure);
  lua_pushlstring(L, turn.scratch.data(), turn.scratch.size());
  turn.scratch.clear();
  return 1;
}

// ctx:parse_date(text, [zone]) -> epoch ms, or nil, err
int ctx_parse_date(lua_State* L) {
  const Turn& turn = check_ctx(L, 1);
  const Zone zone = zone_arg(L, 3, turn, "ctx:parse_date");
  if (lua_type(L, 2) != LUA_TSTRING) {
    lua_pushnil(L);
    lua_pushfstring(L, "expected a date text, got %s", luaL_typename(L, 2));
    return 2;
  }
  const std::optional<std::int64_t> ms = parse_local(lua_tostring(L, 2), zone);
  if (!ms || *ms < kMinMs || *ms > kMaxMs) {
    lua_pushnil(L);
    lua_pushfstring(L, "'%s' is not a date like \"2026-03-03T10:00\" or \"2026-03-03\"", lua_tostring(L, 2));
    return 2;
  }
  lua_pushinteger(L, *ms);
  return 1;
}

const OpenHours& hours_or_raise(lua_State* L, const Turn& turn, const char* method) {
  if (!turn.flow->open_hours)
    luaL_error(L, "%s: flow '%s' has no open_hours (add open_hours = { mon_fri = \"09:00-19:00\" } to the flow)",
               method, turn.flow->info.name.c_str());
  return *turn.flow->open_hours;
}

// ctx:is_open([when]) -> boolean
int ctx_is_open(lua_State* L) {
  const Turn& turn = check_ctx(L, 1);
  const OpenHours& hours = hours_or_raise(L, turn, "ctx:is_open");
  const std::int64_t ms = when_arg(L, 2, turn, turn.flow->zone, "ctx:is_open");
  bool open = false;
  Failure failure;
  try {
    open = is_open(hours, turn.flow->zone, ms);
  } catch (const std::exception& e) {
    failure.set(std::string("ctx:is_open: ") + e.what());
  }
  if (failure) return raise_failure(L, failure);
  lua_pushboolean(L, open);
  return 1;
}

// ctx:next_open([when]) -> epoch ms of the next opening (`when` itself when open then)
int ctx_next_open(lua_State* L) {
  const Turn& turn = check_ctx(L, 1);
  const OpenHours& hours = hours_or_raise(L, turn, "ctx:next_open");
  const std::int64_t ms = when_arg(L, 2, turn, turn.flow->zone, "ctx:next_open");
  std::optional<std::int64_t> next;
  Failure failure;
  try {
    next = next_opening(hours, turn.flow->zone, ms);
  } catch (const std::exception& e) {
    failure.set(std::string("ctx:next_open: ") + e.what());
  }
  if (failure) return raise_failure(L, failure);
  if (next) lua_pushinteger(L, *next);
  else lua_pushnil(L);
  return 1;
}

Failure hours_text_into(Turn& turn, const OpenHours& hours) noexcept {
  Failure failure;
  try {
    turn.scratch = hours_text(hours);
  } catch (const std::exception& e) {
    failure.set(std::string("ctx:hours_text: ") + e.what());
  }
  return failure;
}

// ctx:hours_text() -> "lunes a viernes 09:00–19:00; sábado 10:00–14:00"
int ctx_hours_text(lua_State* L) {
  Turn& turn = check_ctx(L, 1);
  const OpenHours& hours = hours_or_raise(L, turn, "ctx:hours_text");
  if (const Failure failure = hours_text_into(turn, hours)) return raise_failure(L, failure);
  lua_pushlstring(L, turn.scratch.data(), turn.scratch.size());
  turn.scratch.clear();
  return 1;
}

}  // namespace

void register_time(lua_State* L) {
  add_ctx_method(L, "clock", ctx_clock);
  add_ctx_method(L, "format_date", ctx_format_date);
  add_ctx_method(L, "parse_date", ctx_parse_date);
  add_ctx_method(L, "is_open", ctx_is_open);
  add_ctx_method(L, "next_open", ctx_next_open);
  add_ctx_method(L, "hours_text", ctx_hours_text);
}

}  // namespace charla::lua::detail
