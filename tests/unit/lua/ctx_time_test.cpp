// ctx:clock, ctx:format_date, ctx:parse_date and the business-hours helpers, as a
// flow sees them: governed by the turn's clock (never the system's), in the flow's
// `timezone`, with load errors naming file:line.
#include "lua_test_support.hpp"

using namespace charla::lua;
using namespace charla::lua::test;
using Catch::Matchers::Contains;

namespace {

constexpr std::int64_t kTue10 = 1'772'542'800'000;  // 2026-03-03T10:00:00-03:00

const char* kHeader = "return { name = 'hours', initial = 'A', timezone = 'America/Santiago',\n"
                      "  open_hours = { mon_fri = '09:00-19:00', sat = '10:00-14:00' },\n";

TurnResult run_at(Harness& h, const std::string& body, std::int64_t now_ms, const std::string& header = kHeader) {
  h.load("hours.lua", header + "  states = { A = { message = function(ctx, msg)\n" + body + "\nend } } }\n");
  TurnInput in = message_turn("hours", "A", "hola");
  in.now_ms = now_ms;
  return h.run(std::move(in));
}

std::string said(Harness& h, const std::string& body, std::int64_t now_ms = kTue10) {
  const TurnResult r = run_at(h, "ctx:say(tostring(" + body + "))", now_ms);
  INFO(r.error);
  REQUIRE(r.ok);
  return r.outbound.at(0).value("text", "");
}

}  // namespace

TEST_CASE("ctx:clock reads the turn's clock in the flow's zone", "[lua][ctx][time]") {
  Harness h;
  const TurnResult r = run_at(h,
                              "local c = ctx:clock()\n"
                              "ctx:say(string.format('%d-%02d-%02d %02d:%02d:%02d w%d y%d %s %d %s', c.year, c.month,"
                              " c.day, c.hour, c.min, c.sec, c.wday, c.yday, c.iso, c.epoch_ms, c.zone))\n"
                              "local u = ctx:clock('UTC')\n ctx:say(u.iso)\n"
                              "ctx:say(ctx:clock('Europe/Madrid', '2026-07-01T12:00').iso)",
                              kTue10);
  INFO(r.error);
  REQUIRE(r.ok);
  CHECK(h.texts(r) == std::vector<std::string>{
                          "2026-03-03 10:00:00 w2 y62 2026-03-03T10:00:00-03:00 1772542800000 America/Santiago",
                          "2026-03-03T13:00:00+00:00", "2026-07-01T12:00:00+02:00"});
  // A fake clock one day later moves every answer with it.
  CHECK(said(h, "ctx:clock().wday", kTue10 + 86'400'000) == "3");
}

TEST_CASE("ctx:format_date and ctx:parse_date", "[lua][ctx][time]") {
  Harness h;
  CHECK(said(h, "ctx:format_date(ctx:parse_date('2026-03-03T10:00'))") == "martes 3 de marzo, 10:00");
  CHECK(said(h, "ctx:format_date('2026-03-03T10:00', '%A %d de %B, %H:%M')") == "martes 03 de marzo, 10:00");
  CHECK(said(h, "ctx:format_date(ctx:clock(), '%a %-d %b')") == "mar 3 mar");
  CHECK(said(h, "ctx:format_date(1772542800000, '%H:%M', 'UTC')") == "13:00");
  // The clinic's "24 h before a local slot".
  CHECK(said(h, "ctx:format_date(ctx:parse_date('2026-03-04T09:30') - 24*3600*1000, '%F %R')") == "2026-03-03 09:30");
  CHECK(said(h, "select(2, ctx:parse_date('mañana'))") == "'mañana' is not a date like \"2026-03-03T10:00\" or \"2026-03-03\"");
}

TEST_CASE("ctx time methods raise clear errors at the call", "[lua][ctx][time]") {
  Harness h;
  auto error_of = [&](const std::string& body) {
    const TurnResult r = run_at(h, body, kTue10);
    REQUIRE_FALSE(r.ok);
    return r.error;
  };
  CHECK_THAT(error_of("ctx:clock('Mars/Olympus')"), Contains("hours.lua:4:") && Contains("unknown time zone 'Mars/Olympus'"));
  CHECK_THAT(error_of("ctx:format_date(ctx:now())"), Contains("looks like seconds"));
  CHECK_THAT(error_of("ctx:format_date('ayer')"), Contains("'ayer' is not a date"));
  CHECK_THAT(error_of("ctx:format_date(ctx:clock(), '%Q')"), Contains("unknown conversion %Q"));
  CHECK_THAT(error_of("ctx:format_date()"), Contains("missing time"));
  const TurnResult r = run_at(h, "ctx:is_open()", kTue10, "return { name = 'hours', initial = 'A',\n");
  REQUIRE_FALSE(r.ok);
  CHECK_THAT(r.error, Contains("flow 'hours' has no open_hours"));
}

TEST_CASE("ctx:is_open, ctx:next_open and ctx:hours_text follow open_hours", "[lua][ctx][time]") {
  Harness h;
  CHECK(said(h, "ctx:is_open()") == "true");
  CHECK(said(h, "ctx:is_open()", kTue10 + 10 * 3'600'000LL) == "false");  // 20:00
  CHECK(said(h, "ctx:is_open('2026-03-07T13:00')") == "true");
  CHECK(said(h, "ctx:format_date(ctx:next_open())", kTue10 + 10 * 3'600'000LL) == "miércoles 4 de marzo, 09:00");
  CHECK(said(h, "ctx:hours_text()") == "lunes a viernes 09:00–19:00; sábado 10:00–14:00");
  // The flow's timezone, not UTC (13:00).
  CHECK(said(h, "ctx:clock().hour") == "10");
}

TEST_CASE("timezone and open_hours are checked at load with file:line", "[lua][time][loader]") {
  Harness h;
  auto flow = [](const std::string& keys) {
    return "return { name = 'x', initial = 'A',\n" + keys + "\n  states = { A = {} } }\n";
  };
  CHECK_THAT(load_error(h, "x.lua", flow("  timezone = 'America/Santigo',")),
             Contains("x.lua:2: unknown time zone 'America/Santigo'"));
  CHECK_THAT(load_error(h, "x.lua", flow("  timezone = -3,")), Contains("x.lua:2: timezone must be a string"));
  CHECK_THAT(load_error(h, "x.lua", flow("  open_hours = {\n    mon_fri = '09:00-19:00',\n    sat = '10-14' },")),
             Contains("x.lua:4: open_hours.sat: '10-14' is not a range HH:MM-HH:MM"));
  CHECK_THAT(load_error(h, "x.lua", flow("  open_hours = { lunes = '09:00-19:00' },")),
             Contains("x.lua:2: open_hours: unknown day key 'lunes'"));
  CHECK_THAT(load_error(h, "x.lua", flow("  open_hours = { mon = 'closed' },")), Contains("every day is closed"));
  CHECK(h.load("x.lua", flow("  timezone = 'America/Santiago', open_hours = { sun = '10:00-12:00' },")).timezone ==
        "America/Santiago");
}
