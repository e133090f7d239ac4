#pragma once
// Durations in flow files and ctx:after: a number of seconds (fractions allowed) or a
// string "500ms", "90s", "30m", "2h", "1d".
#include <lua.hpp>

#include <cstdint>
#include <optional>
#include <string_view>

namespace charla::lua::detail {

std::optional<std::int64_t> parse_duration_ms(std::string_view text);
// The value at `index` as milliseconds; nullopt when it is not a valid duration.
// Never raises.
std::optional<std::int64_t> duration_ms_at(lua_State* L, int index);

}  // namespace charla::lua::detail
