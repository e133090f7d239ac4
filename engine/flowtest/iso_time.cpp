#include "flowtest/lua_api.hpp"

#include <charconv>
#include <chrono>

namespace charla::flowtest {

namespace {

bool number(std::string_view s, std::size_t pos, std::size_t len, int& out) {
  if (pos + len > s.size()) return false;
  const char* begin = s.data() + pos;
  auto [end, ec] = std::from_chars(begin, begin + len, out);
  return ec == std::errc() && end == begin + len;
}

}  // namespace

std::optional<std::int64_t> parse_iso_time(std::string_view s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!number(s, 0, 4, y) || s.size() < 16 || s[4] != '-' || !number(s, 5, 2, mo) || s[7] != '-' ||
      !number(s, 8, 2, d) || (s[10] != 'T' && s[10] != ' ') || !number(s, 11, 2, h) || s[13] != ':' ||
      !number(s, 14, 2, mi))
    return std::nullopt;
  std::size_t pos = 16;
  if (pos < s.size() && s[pos] == ':') {
    if (!number(s, pos + 1, 2, sec)) return std::nullopt;
    pos += 3;
  }
  int millis = 0;
  if (pos < s.size() && s[pos] == '.') {
    std::size_t end = pos + 1;
    while (end < s.size() && end < pos + 10 && s[end] >= '0' && s[end] <= '9') ++end;
    std::string frac(s.substr(pos + 1, end - pos - 1));
    frac.resize(3, '0');
    if (!number(frac, 0, 3, millis)) return std::nullopt;
    pos = end;
  }
  int offset_min = 0;
  if (pos < s.size()) {
    if (s[pos] == 'Z' && pos + 1 == s.size()) {
      pos += 1;
    } else if ((s[pos] == '+' || s[pos] == '-') && pos + 6 == s.size() && s[pos + 3] == ':') {
      int oh = 0, om = 0;
      if (!number(s, pos + 1, 2, oh) || !number(s, pos + 4, 2, om)) return std::nullopt;
      offset_min = (s[pos] == '-' ? -1 : 1) * (oh * 60 + om);
    } else {
      return std::nullopt;
    }
  }
  using namespace std::chrono;
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  const auto days = sys_days(ymd).time_since_epoch().count();
  const std::int64_t local_ms =
      ((static_cast<std::int64_t>(days) * 24 + h) * 60 + mi) * 60'000 + sec * 1000 + millis;
  return local_ms - static_cast<std::int64_t>(offset_min) * 60'000;
}

}  // namespace charla::flowtest
