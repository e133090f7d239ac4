#include "lua/duration.hpp"

#include <cmath>
#include <cstdlib>
#include <string>

namespace charla::lua::detail {
namespace {

// Ten years: anything longer is a typo, and it keeps due times far from overflow.
constexpr double kMaxMs = 10.0 * 365 * 24 * 3600 * 1000;

std::optional<std::int64_t> from_ms(double ms) {
  if (!std::isfinite(ms) || ms < 0 || ms > kMaxMs) return std::nullopt;
  return static_cast<std::int64_t>(std::llround(ms));
}

}  // namespace

std::optional<std::int64_t> parse_duration_ms(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.'))
    ++digits;
  if (digits == 0 || digits == text.size()) return std::nullopt;
  const std::string number(text.substr(0, digits));
  char* end = nullptr;
  const double value = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size()) return std::nullopt;
  const std::string_view unit = text.substr(digits);
  if (unit == "ms") return from_ms(value);
  if (unit == "s") return from_ms(value * 1000);
  if (unit == "m") return from_ms(value * 60'000);
  if (unit == "h") return from_ms(value * 3'600'000);
  if (unit == "d") return from_ms(value * 86'400'000);
  return std::nullopt;
}

std::optional<std::int64_t> duration_ms_at(lua_State* L, int index) {
  switch (lua_type(L, index)) {
    case LUA_TNUMBER: return from_ms(lua_tonumber(L, index) * 1000);
    case LUA_TSTRING: {
      std::size_t len = 0;
      const char* s = lua_tolstring(L, index, &len);
      return parse_duration_ms({s, len});
    }
    default: return std::nullopt;
  }
}

}  // namespace charla::lua::detail
