#include "http/metrics.hpp"

#include "runtime/handoffs.hpp"

namespace charla::http {

void write_counter(std::ostringstream& out, const char* name, const char* help, std::uint64_t value) {
  out << "# HELP " << name << " " << help << "\n# TYPE " << name << " counter\n" << name << " " << value << "\n";
}

void write_gauge(std::ostringstream& out, const char* name, const char* help, double value) {
  out << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n" << name << " " << value << "\n";
}

void install_metrics_route(Server& server, const runtime::Engine& engine, const store::Store& store,
                           std::vector<MetricsSource> extra) {
  server.route(beast_http::verb::get, "/metrics", [&server, &engine, &store, extra](Request&, Respond respond) {
    std::ostringstream out;
    auto s = engine.stats();
    write_counter(out, "charla_events_accepted_total", "Inbound events stored in the inbox", s.accepted);
    write_counter(out, "charla_events_duplicate_total", "Redelivered events ignored by dedup", s.duplicates);
    write_counter(out, "charla_turns_total", "Turns committed", s.turns);
    write_counter(out, "charla_turn_errors_total", "Turns that failed and sent the fallback", s.turn_errors);
    write_counter(out, "charla_timers_fired_total", "Timers fired", s.timers_fired);
    write_counter(out, "charla_commit_failures_total", "Turn commits the store refused (retried)", s.commit_failures);
    write_counter(out, "charla_corrupt_rows_total", "Stored rows that could not be read (logged and set aside)", s.corrupt_rows);
    write_counter(out, "charla_quarantined_total", "Inbox entries and conversations moved to the quarantine", s.quarantined_total);
    write_counter(out, "charla_loop_exceptions_total", "Exceptions that reached a worker loop (logged; the loop goes on)", s.loop_exceptions);
    write_gauge(out, "charla_quarantined_messages", "Inbox entries in the quarantine (GET /admin/quarantine)",
                static_cast<double>(s.quarantined_messages));
    write_gauge(out, "charla_quarantined_conversations", "Conversations set aside because their record is unreadable",
                static_cast<double>(s.quarantined_conversations));
    write_gauge(out, "charla_active_conversations", "Conversations with a queued or running turn",
                static_cast<double>(s.active_conversations));
    write_gauge(out, "charla_suspended_turns", "Turns waiting on a plugin call", static_cast<double>(s.suspended_turns));
    try {
      write_gauge(out, "charla_handoffs_waiting", "Conversations paused for a human (GET /admin/handoffs)",
                  static_cast<double>(runtime::count_handoffs(engine.store().read())));
    } catch (const std::exception&) {  // store closed: no gauge rather than a failed scrape
    }
    write_gauge(out, "charla_flows_generation", "Flow set in use: 1 at start, +1 per successful reload",
                static_cast<double>(engine.flow_generation().number));
    auto st = store.stats();
    write_counter(out, "charla_store_commits_total", "LMDB write transactions committed", st.commits);
    write_counter(out, "charla_store_writes_total", "Logical writes committed (group commit)", st.writes);
    write_counter(out, "charla_store_failed_writes_total", "Logical writes that failed", st.failed_writes);
    write_gauge(out, "charla_store_map_size_bytes", "LMDB map size", static_cast<double>(st.map_size));
    write_gauge(out, "charla_store_max_batch", "Most writes seen in one commit", static_cast<double>(st.max_batch));
    auto hs = server.stats();
    write_gauge(out, "charla_http_connections_open", "HTTP connections open", static_cast<double>(hs.open_connections));
    write_gauge(out, "charla_http_connections_max", "HTTP connection cap in force (http.max_connections, fd limit)",
                static_cast<double>(hs.max_connections));
    write_counter(out, "charla_http_connections_refused_total", "Connections closed at once: at the cap, none idle",
                  hs.refused_connections);
    write_counter(out, "charla_http_connections_evicted_total",
                  "Connections still reading a request, closed at the cap for a newer one", hs.evicted_connections);
    write_counter(out, "charla_http_accept_errors_total", "accept() failures (e.g. out of fds), backed off",
                  hs.accept_errors);
    write_counter(out, "charla_http_handler_errors_total", "Exceptions out of HTTP handlers (answered 500)",
                  hs.handler_errors);
    write_gauge(out, "charla_store_commit_failing", "1 while the store cannot commit (disk or map full)",
                st.commit_failing ? 1 : 0);
    for (auto& source : extra) source(out);
    Response res;
    res.content_type = "text/plain; version=0.0.4";
    res.body = out.str();
    respond(std::move(res));
  });
}

}  // namespace charla::http
