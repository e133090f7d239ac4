// Local time from the tz database: calendar fields, Spanish formatting, parsing of
// local texts across daylight-saving changes, and business hours.
#include "lua/local_time.hpp"

#include <catch2/catch.hpp>

using namespace charla::lua::detail;

namespace {

Zone santiago() {
  auto zone = find_zone("America/Santiago");
  REQUIRE(zone.has_value());
  REQUIRE(*zone != nullptr);
  return *zone;
}

constexpr std::int64_t kTue10 = 1'772'542'800'000;  // 2026-03-03T10:00:00-03:00, a Tuesday

OpenHours hours(std::vector<std::pair<std::string, std::string>> entries) {
  OpenHours h;
  const auto [error, key] = parse_open_hours(entries, h);
  INFO(error);
  REQUIRE(error.empty());
  return h;
}

std::string hours_error(std::vector<std::pair<std::string, std::string>> entries) {
  OpenHours h;
  return parse_open_hours(entries, h).first;
}

}  // namespace

TEST_CASE("local calendar fields come from the zone's rules", "[lua][time]") {
  const LocalTime t = to_local(santiago(), kTue10);
  CHECK(t.year == 2026);
  CHECK(t.month == 3);
  CHECK(t.day == 3);
  CHECK(t.hour == 10);
  CHECK(t.min == 0);
  CHECK(t.wday == 2);  // martes
  CHECK(t.yday == 62);
  CHECK(t.offset_min == -180);
  CHECK(t.iso() == "2026-03-03T10:00:00-03:00");
  const LocalTime utc = to_local(nullptr, kTue10);
  CHECK(utc.hour == 13);
  CHECK(utc.iso() == "2026-03-03T13:00:00+00:00");
  // Chile's winter time: -04:00 in July.
  CHECK(to_local(santiago(), *parse_local("2026-07-01T12:00:00Z", nullptr)).offset_min == -240);
  CHECK_FALSE(find_zone("America/Santigo").has_value());
  CHECK(find_zone("UTC").has_value());
}

TEST_CASE("dates format with Spanish names", "[lua][time]") {
  std::string error;
  const LocalTime t = to_local(santiago(), kTue10);
  CHECK(format_spanish(t, "%A %-d de %B, %H:%M", error) == "martes 3 de marzo, 10:00");
  CHECK(format_spanish(t, "%a %d %b %Y %e %F %R %T %z %j %u %I %p %%", error) ==
        "mar 03 mar 2026 3 2026-03-03 10:00 10:00:00 -0300 062 2 10 a. m. %");
  CHECK(error.empty());
  CHECK(format_spanish(to_local(santiago(), kTue10 + 4 * 86'400'000LL), "%A %B", error) == "sábado marzo");
  CHECK(format_spanish(t, "%Q", error).empty());
  CHECK_THAT(error, Catch::Contains("unknown conversion %Q"));
}

TEST_CASE("a local date text is read in the zone, across daylight-saving jumps", "[lua][time]") {
  CHECK(parse_local("2026-03-03T10:00", santiago()) == kTue10);
  CHECK(parse_local("2026-03-03 10:00:00", santiago()) == kTue10);
  CHECK(parse_local("2026-03-03T10:00:00-03:00", nullptr) == kTue10);
  CHECK(parse_local("2026-03-03T13:00:00Z", santiago()) == kTue10);
  CHECK(parse_local("2026-03-03", santiago()) == kTue10 - 10 * 3'600'000LL);
  // 00:30 on 2026-09-06 does not exist in Santiago (clocks jump 00:00 -> 01:00): it
  // moves forward by the jump, to 01:30 -03:00.
  CHECK(to_local(santiago(), *parse_local("2026-09-06T00:30", santiago())).iso() == "2026-09-06T01:30:00-03:00");
  for (const char* bad : {"", "mañana", "2026-02-30", "2026-03-03T25:00", "2026-03-03T10", "2026-03-03T10:00+3",
                          "2026-3-3", "2026-03-03T10:00 "})
    CHECK_FALSE(parse_local(bad, santiago()).has_value());
}

TEST_CASE("business hours: open, next opening and a Spanish description", "[lua][time]") {
  const OpenHours h = hours({{"mon_fri", "09:00-13:00,15:00-19:00"}, {"sat", "10:00-14:00"}});
  const Zone z = santiago();
  CHECK(is_open(h, z, kTue10));
  CHECK_FALSE(is_open(h, z, *parse_local("2026-03-03T14:00", z)));
  CHECK_FALSE(is_open(h, z, *parse_local("2026-03-03T19:00", z)));  // closing time is closed
  CHECK(is_open(h, z, *parse_local("2026-03-07T13:59", z)));         // sábado
  CHECK_FALSE(is_open(h, z, *parse_local("2026-03-08T11:00", z)));   // domingo
  CHECK(next_opening(h, z, kTue10) == kTue10);
  CHECK(next_opening(h, z, *parse_local("2026-03-03T14:00", z)) == parse_local("2026-03-03T15:00", z));
  CHECK(next_opening(h, z, *parse_local("2026-03-07T15:00", z)) == parse_local("2026-03-09T09:00", z));
  CHECK(hours_text(h) == "lunes a viernes 09:00–13:00 y 15:00–19:00; sábado 10:00–14:00");
  // A single day overrides the span that covers it.
  const OpenHours f = hours({{"fri", "09:00-17:00"}, {"mon_fri", "09:00-19:00"}, {"sat_sun", "10:00-14:00"}});
  CHECK(hours_text(f) == "lunes a jueves 09:00–19:00; viernes 09:00–17:00; sábado y domingo 10:00–14:00");
  CHECK(hours_text(hours({{"wed", "closed"}, {"mon_sun", "08:00-24:00"}})) ==
        "lunes y martes 08:00–24:00; jueves a domingo 08:00–24:00");
}

TEST_CASE("bad business hours are refused with the reason", "[lua][time]") {
  CHECK_THAT(hours_error({{"lunes", "09:00-19:00"}}), Catch::Contains("unknown day key 'lunes'"));
  CHECK_THAT(hours_error({{"fri_mon", "09:00-19:00"}}), Catch::Contains("runs backwards"));
  CHECK_THAT(hours_error({{"mon", "9-19"}}), Catch::Contains("'9-19' is not a range HH:MM-HH:MM"));
  CHECK_THAT(hours_error({{"mon", "19:00-09:00"}}), Catch::Contains("closes before it opens"));
  CHECK_THAT(hours_error({{"mon", "09:00-13:00,12:00-15:00"}}), Catch::Contains("overlap"));
  CHECK_THAT(hours_error({{"mon_fri", "09:00-19:00"}, {"thu_sat", "09:00-13:00"}}),
             Catch::Contains("both set jueves"));
}
