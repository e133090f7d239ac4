#pragma once
// The WhatsApp outbound channel: a durable, polite outbox sender.
//
// Rows arrive already committed to the `outbox` db. The sender runs on its own
// thread and io_context with one libcurl multi handle (keep-alive to the Graph API).
//
// Invariants:
//  - Per recipient, strictly one message in flight: the next one goes only after the
//    previous is accepted (or given up), so multi-part replies arrive in order.
//  - Per business number, a token bucket caps throughput (max_per_second), and at most
//    max_in_flight requests are in flight at once. Recipients ready to send while the
//    number is at that cap wait in a FIFO and get the next free slot, oldest first, so
//    only requests that really go out enter curl (whose per-host connection limit is
//    set to match) and the request timeout measures Graph, not a queue.
//  - Every outcome is written back to the row (status, attempts, next attempt, wamid,
//    last error); accepted rows are indexed by wamid for status webhooks.
//  - Transient failures back off (exponential with jitter, Retry-After honoured,
//    4^n s for the pair rate limit); after max_attempts a row is dead-lettered.
//  - Error 190 (token invalid) pauses the number: nothing is lost; replace_token()
//    resumes it.
//  - In sink mode (WhatsAppConfig::sink_mode(): explicit, or no number configured)
//    rows are marked "sink" and logged instead of sent. Outside it, a row for a number
//    without a token fails (retryable); it is never marked "sink".
#include "config/config.hpp"
#include "runtime/channel.hpp"
#include "runtime/engine.hpp"
#include "store/store.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace charla::whatsapp {

struct SenderMetrics {
  std::atomic<std::uint64_t> sent{0}, sink{0}, retries{0}, failed{0}, dead{0}, window_fallbacks{0},
      token_pauses{0}, statuses{0}, orphan_statuses{0};
  // Requests sent again after one that failed once it may have reached the Graph API
  // (a timeout, a connection lost mid-request): each may be a duplicate for the customer.
  std::atomic<std::uint64_t> resends{0};
  std::atomic<std::int64_t> in_flight{0};  // Graph requests in flight now (all numbers)
  std::atomic<std::uint64_t> loop_exceptions{0};  // exceptions that reached the sender's loop
};

class OutboxSender final : public runtime::Channel {
 public:
  OutboxSender(const config::WhatsAppConfig& config, store::Store& store, const runtime::Engine& engine,
               double retry_time_scale = 1.0);
  ~OutboxSender() override;

  std::string name() const override { return "whatsapp"; }
  std::optional<std::string> validate(const nlohmann::json& message) const override;
  void dispatch(std::vector<runtime::OutboundRow> rows) override;

  // A status webhook (sent/delivered/read/failed) for a message we sent.
  void apply_status(const std::string& wamid, const std::string& status, std::int64_t timestamp,
                    const nlohmann::json& errors, std::function<void(const std::string&)> done);
  // Installs a new token for a number and resumes it if it was paused by error 190.
  bool replace_token(const std::string& phone_number_id, const std::string& token);
  // Re-queues a row that was not sent: dead-lettered, failed or sink (admin retry).
  void retry_row(std::uint64_t seq, std::function<void(const std::string&)> done);

  bool paused(const std::string& phone_number_id) const;
  const SenderMetrics& metrics() const;
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace charla::whatsapp
