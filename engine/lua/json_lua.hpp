#pragma once
// JSON <-> Lua conversion, the only way values cross between flows and the engine
// (ctx.data, msg, plugin arguments and replies, timer payloads).
//
// Lua -> JSON rules: a table whose keys are exactly 1..n (n >= 1) is an array; any
// other table is an object (an empty table is {}); integer keys of an object become
// strings. Functions, userdata, threads, cyclic tables, float/boolean keys, NaN/inf,
// invalid UTF-8 and values over kMaxJsonBytes of JSON are refused with a message naming the key path
// ("ctx.data.foo.bar: functions cannot be stored"). JSON -> Lua: null becomes nil.
#include <lua.hpp>
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace charla::lua::detail {

// Pushes `value`. Allocates, so it may raise a Lua memory error: call it from Lua
// context or under lua_pcall, and keep no C++ objects with destructors in frames
// between here and that protection.
void push_json(lua_State* L, const nlohmann::json& value);

// The largest JSON text one conversion produces (ctx.data, plugin arguments, ...).
inline constexpr std::size_t kMaxJsonBytes = 1u << 20;

// Converts the value at `index`. Never raises a Lua error and never runs a metamethod
// (raw access only), so C++ callers may use it anywhere. `path` names the root in
// error messages ("ctx.data"); `verb` ends them ("stored", "sent"). Refused past
// `max_bytes` of JSON text, counted as it converts (so its work and memory are
// bounded too): a table referenced from several places counts once per place.
bool to_json(lua_State* L, int index, nlohmann::json& out, std::string& error, std::string_view path,
             std::string_view verb = "stored", std::size_t max_bytes = kMaxJsonBytes);

bool valid_utf8(std::string_view s);

}  // namespace charla::lua::detail
