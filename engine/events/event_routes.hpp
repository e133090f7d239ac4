#pragma once
// The admin API for events (bearer CHARLA_ADMIN_TOKEN) and their metrics:
//   GET  /admin/events[?status=pending|dead][&limit=N]  rows in seq order
//   POST /admin/events/{seq}/retry                       a dead (or waiting) row goes out again now
#include "events/event_sender.hpp"
#include "http/metrics.hpp"
#include "http/server.hpp"
#include "store/store.hpp"

#include <string>

namespace charla::events {

void install_admin_routes(http::Server& server, const std::string& admin_token, const store::Store& store,
                          EventSender& sender);
http::MetricsSource metrics_source(const EventSender& sender);

}  // namespace charla::events
