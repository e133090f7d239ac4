#include "events/event_routes.hpp"

#include "http/admin_api.hpp"
#include "runtime/event_log.hpp"

#include <algorithm>
#include <cstdlib>

namespace charla::events {

using http::Request;
using http::Respond;
using http::Response;
using nlohmann::json;

namespace {

json listing(const store::Store& store, const std::string& status, std::size_t limit) {
  json items = json::array();
  auto txn = store.read();
  txn.scan(store::Db::events, "", [&](std::string_view k, std::string_view v) {
    if (k.size() < 8) return true;
    const std::uint64_t seq = store::from_be64(k);
    auto row = runtime::EventRecord::from_json(seq, v);
    json item;
    if (row) {
      if (!status.empty() && row->status != status) return true;
      item = row->to_json();
      item["time"] = runtime::iso8601_utc(row->time_ms);
    } else {
      if (!status.empty() && status != "unreadable") return true;
      item = {{"status", "unreadable"}, {"raw", std::string(v.substr(0, 500))}};
    }
    item["seq"] = seq;
    items.push_back(std::move(item));
    return items.size() < limit;
  });
  return items;
}

}  // namespace

void install_admin_routes(http::Server& server, const std::string& admin_token, const store::Store& store,
                          EventSender& sender) {
  using http::beast_http::verb;
  server.route(verb::get, "/admin/events", [admin_token, &store](Request& req, Respond respond) {
    if (!http::admin_authorized(admin_token, req, respond)) return;
    const std::string status = req.query.count("status") ? req.query["status"] : std::string();
    if (!status.empty() && status != "pending" && status != "dead" && status != "unreadable")
      return respond(Response::json(400, R"({"error":"status must be pending, dead or unreadable"})"));
    std::size_t limit = 100;
    if (req.query.count("limit"))
      limit = std::clamp<std::size_t>(std::strtoul(req.query["limit"].c_str(), nullptr, 10), 1, 1000);
    try {
      respond(Response::json(200, json{{"events", listing(store, status, limit)}}.dump(-1, ' ', false,
                                                                                       json::error_handler_t::replace)));
    } catch (const std::exception& e) {
      respond(Response::json(500, json{{"error", std::string("cannot read events: ") + e.what()}}.dump()));
    }
  });
  server.route(verb::post, "/admin/events/*", [admin_token, &sender](Request& req, Respond respond) {
    if (!http::admin_authorized(admin_token, req, respond)) return;
    const auto rest = req.path.substr(std::string("/admin/events/").size());
    const auto slash = rest.find('/');
    const auto seq_text = rest.substr(0, slash);
    if (slash == std::string::npos || rest.substr(slash + 1) != "retry" || seq_text.empty() ||
        seq_text.find_first_not_of("0123456789") != std::string::npos || seq_text.size() > 19)
      return respond(Response::json(404, R"x({"error":"use POST /admin/events/{seq}/retry (seq from GET /admin/events)"})x"));
    const std::uint64_t seq = std::strtoull(seq_text.c_str(), nullptr, 10);
    sender.retry(seq, [seq, respond](unsigned status, const std::string& message) {
      if (status != 200) return respond(Response::json(status, json{{"error", message}}.dump()));
      respond(Response::json(200, json{{"seq", seq}, {"status", "pending"}}.dump()));
    });
  });
}

http::MetricsSource metrics_source(const EventSender& sender) {
  return [&sender](std::ostringstream& out) {
    const auto& m = sender.metrics();
    http::write_counter(out, "charla_events_sent_total", "Events delivered to a webhook (2xx)", m.sent);
    http::write_counter(out, "charla_events_failed_total", "Event POSTs that failed (each attempt)", m.failed);
    http::write_counter(out, "charla_events_dead_letters_total", "Events dead-lettered after max attempts", m.dead);
    http::write_gauge(out, "charla_events_queue_depth", "Events waiting for delivery",
                      static_cast<double>(m.pending.load()));
    http::write_gauge(out, "charla_events_dead", "Dead-lettered events kept for retry",
                      static_cast<double>(m.dead_rows.load()));
    http::write_gauge(out, "charla_events_in_flight", "Event POSTs in flight", static_cast<double>(m.in_flight.load()));
    http::write_counter(out, "charla_events_sender_loop_exceptions_total",
                        "Exceptions that reached the event sender's loop (logged)", m.loop_exceptions);
  };
}

}  // namespace charla::events
