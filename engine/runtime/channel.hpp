#pragma once
// The seam between the engine and a messaging channel (WhatsApp, console). The
// engine commits outbound messages to the `outbox` first and only then hands them
// to the channel, so a crash never loses a reply that a committed turn produced.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace charla::runtime {

struct OutboundRow {
  std::uint64_t seq = 0;        // outbox key
  std::string conversation;
  std::string channel;
  std::string account;          // business number that sends
  std::string to;               // customer address
  nlohmann::json message;       // channel-neutral message from a ctx: call
  int attempts = 0;
  std::int64_t created_ms = 0;
  // A send of this row had started (outbox "dispatched_ms") when the process that read
  // it last stopped: the Graph API may already have it, so sending it again may be a
  // duplicate for the customer (DESIGN.md's one unclosable window, counted as a resend).
  bool dispatched = false;

  nlohmann::json to_json() const;   // the outbox value, status "pending"
  std::string dump() const;         // to_json().dump(), written without building the JSON tree
  static OutboundRow from_json(std::uint64_t seq, const nlohmann::json& j);
};

class Channel {
 public:
  virtual ~Channel() = default;
  virtual std::string name() const = 0;
  // Channel limits for a message, checked at the ctx: call so a flow designer gets a
  // Lua error with file:line instead of a delivery failure later. Thread-safe.
  virtual std::optional<std::string> validate(const nlohmann::json& message) const {
    (void)message;
    return std::nullopt;
  }
  // Rows are durable in the outbox. Called from worker threads; must not block.
  virtual void dispatch(std::vector<OutboundRow> rows) = 0;
};

}  // namespace charla::runtime
