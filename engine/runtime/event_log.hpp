#pragma once
// Business events for the systems around the bot (CRMs, help desks): the rows of the
// `events` db and the rules that decide which rows exist.
//
// An event (a flow's ctx:emit, or one of the engine's own: conversation.started,
// state.changed, handoff.started, handoff.ended, conversation.reset, message.failed)
// becomes one row per configured webhook whose filter matches its name. The rows are
// written in the same store transaction as the turn or admin operation that caused
// the event, so an event exists exactly when its cause committed; a sender
// (engine/events/) POSTs them and deletes each once delivered.
//
// Invariants:
//  - No webhook configured: no rows at all (the db does not grow).
//  - Row keys are be64 seqs from the "events" counter, so key order is commit order,
//    and per conversation and webhook it is the order the events happened.
//  - An event's `id` is random (128 bits) and shared by its rows for different
//    webhooks; it never changes across retries or restarts, so a receiver can drop
//    repeats by id.
#include "store/store.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace charla::runtime {

// One webhook: where events go and which names it wants (empty: every event).
struct EventSubscription {
  std::string url;
  std::vector<std::string> patterns;  // globs where '*' matches any run of characters
};

// "lead.*" matches "lead.qualified"; "*" matches everything; no other special characters.
bool event_pattern_matches(std::string_view pattern, std::string_view name);

// "2026-12-04T19:41:00.123Z"
std::string iso8601_utc(std::int64_t ms);

struct EventRecord {
  std::uint64_t seq = 0;           // the key, not stored in the value
  std::string id;
  std::string name, conversation, phone;
  std::int64_t time_ms = 0;
  nlohmann::json payload = nlohmann::json::object();
  std::string webhook;             // its url
  std::string status = "pending";  // "pending" or "dead"
  std::uint32_t attempts = 0;
  std::int64_t next_attempt_ms = 0;
  std::string last_error;

  nlohmann::json to_json() const;  // the stored value
  // nullopt when the value is not a readable event row.
  static std::optional<EventRecord> from_json(std::uint64_t seq, std::string_view value);
  // The POST body: {"id","name","conversation","phone","time","payload"}.
  std::string body() const;
};

class EventLog {
 public:
  explicit EventLog(std::vector<EventSubscription> webhooks = {});

  bool enabled() const { return !webhooks_.empty(); }
  const std::vector<EventSubscription>& webhooks() const { return webhooks_; }

  // The serialized rows of one event, one per matching webhook; empty when none
  // matches. Call outside the store transaction (the id is drawn here, so a WriteFn
  // that runs twice writes the same event).
  std::vector<std::string> rows(std::string_view name, std::string_view conversation, std::string_view phone,
                                std::int64_t now_ms, const nlohmann::json& payload) const;
  // Puts prepared rows under new seqs; inside a store transaction.
  static void put(store::WriteTxn& txn, const std::vector<std::string>& rows);
  // rows() + put() for callers already inside a transaction (admin operations, the
  // outbox's dead letters).
  void record(store::WriteTxn& txn, std::string_view name, std::string_view conversation, std::string_view phone,
              std::int64_t now_ms, const nlohmann::json& payload) const;

 private:
  std::vector<EventSubscription> webhooks_;
};

}  // namespace charla::runtime
