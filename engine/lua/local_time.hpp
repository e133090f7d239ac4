#pragma once
// Local time for flows: calendar fields, Spanish formatting, parsing of local date
// texts and business hours, in an IANA time zone from the system's tz database
// (Howard Hinnant's date/tz with USE_OS_TZDB, reading /usr/share/zoneinfo).
//
// Pure functions of (zone, epoch milliseconds): the caller supplies "now" from the
// engine's runtime::Clock, so fake clocks in tests and `charla chat --now` govern
// every answer. Nothing here reads the system clock, and nothing throws on bad input:
// lookups and parses return nullopt or an error text.
//
// A null zone pointer means UTC, so UTC works even on a machine without tzdata.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace date {
class time_zone;
}

namespace charla::lua::detail {

using Zone = const date::time_zone*;  // nullptr: UTC

// The zone called `name` ("America/Santiago", "UTC"); nullopt when the tz database
// has no such zone (or is not installed).
std::optional<Zone> find_zone(std::string_view name);

// Trivially destructible, so Lua code may raise while one is alive.
struct LocalTime {
  int year = 1970, month = 1, day = 1, hour = 0, min = 0, sec = 0;
  int wday = 4;            // ISO: 1 = Monday (lunes) .. 7 = Sunday (domingo)
  int yday = 1;            // 1 = January 1st
  int offset_min = 0;      // local minus UTC
  std::int64_t epoch_ms = 0;
  char abbrev[16] = "UTC";  // "-03", "CET"
  void iso_into(char* out, std::size_t size) const;  // "2026-03-03T10:00:00-03:00"
  std::string iso() const;
};

LocalTime to_local(Zone zone, std::int64_t epoch_ms);

// "2026-03-03T10:00", "2026-03-03 10:00:30", "2026-03-03" (midnight): local time in
// `zone`. With an offset or Z ("...T10:00:00-03:00") the text names an instant and
// the zone is not used. A local time skipped by a daylight-saving jump moves forward
// by the jump; a repeated one takes the earlier instant. nullopt: not such a text.
std::optional<std::int64_t> parse_local(std::string_view text, Zone zone);

// strftime-like, with Spanish names: %A lunes, %a lun, %B marzo, %b mar, %d 03, %e 3,
// %m 03, %Y 2026, %y 26, %H 10, %I 10, %p a. m./p. m., %M 00, %S 00, %j 062, %u 2
// (ISO weekday), %Z abbreviation, %z -0300, %F 2026-03-03, %T 10:00:00, %R 10:00,
// %%. A '-' after '%' drops zero padding (%-d 3, %-H 9). An unknown conversion is
// an error text in `error` (the result is then empty).
std::string format_spanish(const LocalTime& t, std::string_view format, std::string& error);

// Business hours in local time: per ISO weekday (index 0 = Monday), minute ranges
// [open, close) with close <= 24*60, sorted and not overlapping.
struct OpenHours {
  std::array<std::vector<std::pair<int, int>>, 7> days;
  bool empty() const;
};

// Reads a flow's `open_hours` entries (key, value): key mon..sun or a span of days
// like mon_fri / sat_sun, value "09:00-19:00", several ranges
// "09:00-13:00,15:00-19:00", or "closed". A single day overrides a span that covers
// it; two spans covering one day, or one day given twice, are errors. On error
// returns {message, the offending key}; {"", ""} when fine.
std::pair<std::string, std::string> parse_open_hours(const std::vector<std::pair<std::string, std::string>>& entries,
                                                     OpenHours& hours);

bool is_open(const OpenHours& hours, Zone zone, std::int64_t epoch_ms);
// The first instant at or after `epoch_ms` when the business is open; nullopt when
// it never opens (no ranges).
std::optional<std::int64_t> next_opening(const OpenHours& hours, Zone zone, std::int64_t epoch_ms);
// "lunes a viernes 09:00–19:00; sábado 10:00–14:00": consecutive days with the same
// ranges grouped, closed days left out.
std::string hours_text(const OpenHours& hours);

}  // namespace charla::lua::detail
