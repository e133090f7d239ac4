#include "lua/local_time.hpp"

#include <date/tz.h>

#include <algorithm>
#include <cstdio>

namespace charla::lua::detail {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr const char* kDays[] = {"lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"};
constexpr const char* kDaysShort[] = {"lun", "mar", "mié", "jue", "vie", "sáb", "dom"};
constexpr const char* kMonths[] = {"enero", "febrero", "marzo",     "abril",   "mayo",      "junio",
                                   "julio", "agosto",  "septiembre", "octubre", "noviembre", "diciembre"};
constexpr const char* kMonthsShort[] = {"ene", "feb", "mar", "abr", "may", "jun",
                                        "jul", "ago", "sept", "oct", "nov", "dic"};
constexpr const char* kDayKeys[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

// Offset of local time from UTC at the instant `ms`.
seconds offset_at(Zone zone, date::sys_time<milliseconds> at, std::string* abbrev = nullptr) {
  if (!zone) {
    if (abbrev) *abbrev = "UTC";
    return seconds{0};
  }
  const date::sys_info info = zone->get_info(at);
  if (abbrev) *abbrev = info.abbrev;
  return info.offset;
}

// The instant of a local time in `zone` (see parse_local for gaps and overlaps).
std::int64_t local_to_epoch(Zone zone, date::local_time<milliseconds> local) {
  seconds offset{0};
  if (zone) offset = zone->get_info(date::floor<seconds>(local)).first.offset;
  return (local.time_since_epoch() - offset).count();
}

bool digits(std::string_view s, std::size_t at, std::size_t n, int& out) {
  if (at + n > s.size()) return false;
  out = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

std::string two(int v) {
  char b[16];
  std::snprintf(b, sizeof b, "%02d", v);
  return b;
}

std::string hhmm(int minute) { return two(minute / 60) + ":" + two(minute % 60); }

// "09:00" / "24:00" -> minutes; -1 when not such a text.
int parse_hhmm(std::string_view s) {
  int h = 0, m = 0;
  if (s.size() != 5 || s[2] != ':' || !digits(s, 0, 2, h) || !digits(s, 3, 2, m)) return -1;
  if (m > 59 || h > 24 || (h == 24 && m != 0)) return -1;
  return h * 60 + m;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

// "09:00-13:00,15:00-19:00" -> sorted ranges; error text when malformed.
std::string parse_ranges(std::string_view value, std::vector<std::pair<int, int>>& out) {
  out.clear();
  if (trim(value) == "closed" || trim(value) == "cerrado") return {};
  while (true) {
    const auto comma = value.find(',');
    const std::string_view part = trim(value.substr(0, comma));
    const auto dash = part.find('-');
    const int open = dash == std::string_view::npos ? -1 : parse_hhmm(trim(part.substr(0, dash)));
    const int close = dash == std::string_view::npos ? -1 : parse_hhmm(trim(part.substr(dash + 1)));
    if (open < 0 || close < 0)
      return "'" + std::string(part) + "' is not a range HH:MM-HH:MM (e.g. \"09:00-19:00\", \"09:00-13:00,15:00-19:00\" or \"closed\")";
    if (close <= open)
      return "'" + std::string(part) + "' closes before it opens (a range past midnight is two: \"22:00-24:00\" and the next day \"00:00-02:00\")";
    out.emplace_back(open, close);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  std::sort(out.begin(), out.end());
  for (std::size_t i = 1; i < out.size(); ++i)
    if (out[i].first < out[i - 1].second)
      return "ranges " + hhmm(out[i - 1].first) + "-" + hhmm(out[i - 1].second) + " and " + hhmm(out[i].first) + "-" +
             hhmm(out[i].second) + " overlap";
  return {};
}

int day_index(std::string_view key) {
  for (int i = 0; i < 7; ++i)
    if (key == kDayKeys[i]) return i;
  return -1;
}

// The local day (midnight) of an instant, and its ISO weekday index 0..6.
date::local_days local_day(Zone zone, std::int64_t epoch_ms) {
  const date::sys_time<milliseconds> at{milliseconds{epoch_ms}};
  return date::floor<date::days>(date::local_time<milliseconds>{at.time_since_epoch() + offset_at(zone, at)});
}

int weekday_index(date::local_days day) { return static_cast<int>(date::weekday{day}.iso_encoding()) - 1; }

std::string day_group(int first, int last) {
  if (first == last) return kDays[first];
  if (last == first + 1) return std::string(kDays[first]) + " y " + kDays[last];
  return std::string(kDays[first]) + " a " + kDays[last];
}

}  // namespace

std::optional<Zone> find_zone(std::string_view name) {
  if (name == "UTC" || name == "Etc/UTC") return Zone{nullptr};
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void LocalTime::iso_into(char* out, std::size_t size) const {
  const int off = offset_min < 0 ? -offset_min : offset_min;
  std::snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", year, month, day, hour, min, sec,
                offset_min < 0 ? '-' : '+', off / 60, off % 60);
}

std::string LocalTime::iso() const {
  char b[48];
  iso_into(b, sizeof b);
  return b;
}

LocalTime to_local(Zone zone, std::int64_t epoch_ms) {
  const date::sys_time<milliseconds> at{milliseconds{epoch_ms}};
  LocalTime t;
  std::string abbrev;
  const seconds offset = offset_at(zone, at, &abbrev);
  std::snprintf(t.abbrev, sizeof t.abbrev, "%s", abbrev.c_str());
  const date::local_time<milliseconds> local{at.time_since_epoch() + offset};
  const auto day = date::floor<date::days>(local);
  const date::year_month_day ymd{day};
  const date::hh_mm_ss<milliseconds> tod{local - day};
  t.year = static_cast<int>(ymd.year());
  t.month = static_cast<int>(static_cast<unsigned>(ymd.month()));
  t.day = static_cast<int>(static_cast<unsigned>(ymd.day()));
  t.hour = static_cast<int>(tod.hours().count());
  t.min = static_cast<int>(tod.minutes().count());
  t.sec = static_cast<int>(tod.seconds().count());
  t.wday = weekday_index(day) + 1;
  t.yday = static_cast<int>((day - date::local_days{ymd.year() / 1 / 1}).count()) + 1;
  t.offset_min = static_cast<int>(std::chrono::duration_cast<minutes>(offset).count());
  t.epoch_ms = epoch_ms;
  return t;
}

std::optional<std::int64_t> parse_local(std::string_view s, Zone zone) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!digits(s, 0, 4, y) || s.size() < 10 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d))
    return std::nullopt;
  std::size_t at = 10;
  if (at < s.size()) {
    if ((s[at] != 'T' && s[at] != ' ') || !digits(s, at + 1, 2, h) || at + 3 >= s.size() || s[at + 3] != ':' ||
        !digits(s, at + 4, 2, mi))
      return std::nullopt;
    at += 6;
    if (at < s.size() && s[at] == ':') {
      if (!digits(s, at + 1, 2, sec)) return std::nullopt;
      at += 3;
    }
  }
  const date::year_month_day ymd{date::year{y} / mo / d};
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 59) return std::nullopt;
  const date::local_time<milliseconds> local =
      date::local_days{ymd} + std::chrono::hours{h} + minutes{mi} + seconds{sec};
  if (at == s.size()) return local_to_epoch(zone, local);
  // An explicit offset: the text names an instant.
  int oh = 0, om = 0;
  if (s.substr(at) == "Z") return (local.time_since_epoch()).count();
  if ((s[at] != '+' && s[at] != '-') || s.size() != at + 6 || !digits(s, at + 1, 2, oh) || s[at + 3] != ':' ||
      !digits(s, at + 4, 2, om) || oh > 23 || om > 59)
    return std::nullopt;
  const milliseconds offset = std::chrono::hours{oh} + minutes{om};
  return (local.time_since_epoch() - (s[at] == '-' ? -offset : offset)).count();
}

std::string format_spanish(const LocalTime& t, std::string_view format, std::string& error) {
  std::string out;
  for (std::size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out += format[i];
      continue;
    }
    bool pad = true;
    if (i + 1 < format.size() && format[i + 1] == '-') {
      pad = false;
      ++i;
    }
    if (i + 1 >= format.size()) {
      error = "format ends with a lone '%' (write %% for a percent sign)";
      return {};
    }
    const char c = format[++i];
    auto num = [&](int v, int width) {
      char b[16];
      if (pad) std::snprintf(b, sizeof b, "%0*d", width, v);
      else std::snprintf(b, sizeof b, "%d", v);
      out += b;
    };
    const int off = t.offset_min < 0 ? -t.offset_min : t.offset_min;
    switch (c) {
      case 'A': out += kDays[t.wday - 1]; break;
      case 'a': out += kDaysShort[t.wday - 1]; break;
      case 'B': out += kMonths[t.month - 1]; break;
      case 'b': out += kMonthsShort[t.month - 1]; break;
      case 'd': num(t.day, 2); break;
      case 'e': out += std::to_string(t.day); break;
      case 'm': num(t.month, 2); break;
      case 'Y': num(t.year, 4); break;
      case 'y': num(t.year % 100, 2); break;
      case 'H': num(t.hour, 2); break;
      case 'I': num(t.hour % 12 == 0 ? 12 : t.hour % 12, 2); break;
      case 'p': out += t.hour < 12 ? "a. m." : "p. m."; break;
      case 'M': num(t.min, 2); break;
      case 'S': num(t.sec, 2); break;
      case 'j': num(t.yday, 3); break;
      case 'u': out += std::to_string(t.wday); break;
      case 'Z': out += t.abbrev; break;
      case 'z': out += (t.offset_min < 0 ? "-" : "+") + two(off / 60) + two(off % 60); break;
      case 'F': out += t.iso().substr(0, 10); break;
      case 'T': out += two(t.hour) + ":" + two(t.min) + ":" + two(t.sec); break;
      case 'R': out += two(t.hour) + ":" + two(t.min); break;
      case '%': out += '%'; break;
      default:
        error = std::string("unknown conversion %") + c +
                " (known: %A %a %B %b %d %e %m %Y %y %H %I %p %M %S %j %u %Z %z %F %T %R %%, and %-d style for no padding)";
        return {};
    }
  }
  return out;
}

bool OpenHours::empty() const {
  return std::all_of(days.begin(), days.end(), [](const auto& d) { return d.empty(); });
}

std::pair<std::string, std::string> parse_open_hours(const std::vector<std::pair<std::string, std::string>>& entries,
                                                     OpenHours& hours) {
  std::array<std::string, 7> by_span, by_day;  // the key that set each day
  std::vector<std::pair<int, int>> ranges;
  for (const bool single_pass : {false, true}) {
    for (const auto& [key, value] : entries) {
      const auto underscore = key.find('_');
      const bool single = underscore == std::string::npos;
      if (single != single_pass) continue;
      int first = day_index(single ? key : key.substr(0, underscore));
      int last = single ? first : day_index(key.substr(underscore + 1));
      if (first < 0 || last < 0)
        return {"open_hours: unknown day key '" + key +
                    "' (expected mon, tue, wed, thu, fri, sat, sun, or a span such as mon_fri, sat_sun)",
                key};
      if (last < first) return {"open_hours: span '" + key + "' runs backwards (write it from Monday on, e.g. mon_fri)", key};
      if (const std::string error = parse_ranges(value, ranges); !error.empty())
        return {"open_hours." + key + ": " + error, key};
      for (int d = first; d <= last; ++d) {
        auto& owner = single ? by_day[d] : by_span[d];
        if (!owner.empty())
          return {"open_hours: " + key + " and " + owner + " both set " + kDays[d] +
                      (single ? "" : " (a single day such as 'fri' may override a span)"),
                  key};
        owner = key;
        hours.days[d] = ranges;
      }
    }
  }
  return {};
}

bool is_open(const OpenHours& hours, Zone zone, std::int64_t epoch_ms) {
  const LocalTime t = to_local(zone, epoch_ms);
  const int minute = t.hour * 60 + t.min;
  for (const auto& [open, close] : hours.days[t.wday - 1])
    if (minute >= open && minute < close) return true;
  return false;
}

std::optional<std::int64_t> next_opening(const OpenHours& hours, Zone zone, std::int64_t epoch_ms) {
  if (is_open(hours, zone, epoch_ms)) return epoch_ms;
  const date::local_days today = local_day(zone, epoch_ms);
  for (int ahead = 0; ahead <= 7; ++ahead) {
    const date::local_days day = today + date::days{ahead};
    for (const auto& [open, close] : hours.days[weekday_index(day)]) {
      const std::int64_t at = local_to_epoch(zone, date::local_time<milliseconds>{day} + minutes{open});
      if (at > epoch_ms) return at;
    }
  }
  return std::nullopt;
}

std::string hours_text(const OpenHours& hours) {
  std::string out;
  for (int d = 0; d < 7;) {
    int last = d;
    while (last + 1 < 7 && hours.days[last + 1] == hours.days[d]) ++last;
    if (!hours.days[d].empty()) {
      if (!out.empty()) out += "; ";
      out += day_group(d, last) + " ";
      for (std::size_t i = 0; i < hours.days[d].size(); ++i) {
        if (i) out += " y ";
        out += hhmm(hours.days[d][i].first) + "–" + hhmm(hours.days[d][i].second);
      }
    }
    d = last + 1;
  }
  return out;
}

}  // namespace charla::lua::detail
