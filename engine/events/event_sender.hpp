#pragma once
// Delivers the `events` db (runtime/event_log.hpp) to the configured webhooks, like
// the WhatsApp outbox sender delivers replies: its own thread, io_context and libcurl
// multi handle (net::HttpClient), every outcome written back to the row.
//
// Invariants:
//  - Per webhook and conversation, one event at a time, in seq order: event N+1 is
//    not sent before N is delivered (its row deleted) or dead. Different
//    conversations (and webhooks) proceed in parallel, at most max_in_flight at once.
//  - Each POST carries the event's JSON body and X-Charla-Signature: sha256=<hex
//    HMAC-SHA256 of the exact body bytes, keyed with the webhook's secret>.
//  - Any 2xx is delivered: the row is deleted. Anything else (another status, a
//    timeout, no connection) is retried with exponential backoff (1 s doubling to
//    10 min, with jitter, times retry_time_scale) or after the receiver's Retry-After
//    (seconds; never scaled, capped at 1 h); after max_attempts the row is "dead" and
//    stays until retried through the admin API.
//  - Rows survive restarts: a row whose POST was in flight when the process stopped
//    is sent again (same id, so the receiver can drop the repeat).
//  - Rows for a webhook no longer in config are left untouched (listed by the admin API).
#include "config/events_config.hpp"
#include "runtime/engine.hpp"
#include "store/store.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace charla::events {

struct EventMetrics {
  std::atomic<std::uint64_t> sent{0};      // POSTs answered 2xx
  std::atomic<std::uint64_t> failed{0};    // POSTs that failed (each attempt)
  std::atomic<std::uint64_t> dead{0};      // events dead-lettered
  std::atomic<std::int64_t> pending{0};    // rows waiting now (last scan)
  std::atomic<std::int64_t> dead_rows{0};  // dead rows in the db now (last scan)
  std::atomic<std::int64_t> in_flight{0};
  std::atomic<std::uint64_t> loop_exceptions{0};
};

class EventSender {
 public:
  // Starts its thread at once; it only reads and writes the store.
  EventSender(const config::EventsConfig& config, store::Store& store, const runtime::Engine& engine);
  ~EventSender();  // stop()
  EventSender(const EventSender&) = delete;
  EventSender& operator=(const EventSender&) = delete;

  // New rows may be in the db (a turn committed): look soon. Thread-safe.
  void nudge();
  // Makes a row (dead or waiting) pending again with its attempts reset, for the admin
  // API. done(status, message) runs on the store's writer thread.
  void retry(std::uint64_t seq, std::function<void(unsigned status, const std::string& message)> done);
  const EventMetrics& metrics() const;
  // Cancels requests in flight (their rows stay pending) and joins the thread. Idempotent.
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace charla::events
