#pragma once
// An event for one conversation: an inbound message (durable in `inbox` before it
// is delivered) or a timer firing (durable in `timers`).
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace charla::runtime {

struct InboundEvent {
  // enter: an operator moved the conversation to a state (payload {"state"}) and asked
  // for its `enter` handler to run; durable in `inbox` like a message.
  enum class Kind { message, timer, enter };
  Kind kind = Kind::message;
  std::uint64_t seq = 0;        // inbox sequence (0 for timers)
  std::string conversation;     // "<channel>:<account>:<user>"
  std::string channel;          // "whatsapp", "console"
  std::string account;          // the business number (phone_number_id), "local" for console
  std::string user;             // the customer's address: wa_id or BSUID
  std::string name;             // the customer's profile name
  std::string flow;             // flow for a new conversation; empty: the default flow
  std::string dedup_id;         // channel message id (wamid); empty: no dedup
  nlohmann::json payload;       // message: the Lua msg table; timer: {name, payload, due_ms}
  std::int64_t received_ms = 0; // wall clock at intake
  // Runs started for this entry at startup recovery (see Worker::charge_recovered);
  // persisted only once non-zero, so the normal path writes the same bytes as before.
  std::uint64_t attempts = 0;
  // Delivered by startup recovery: its turn may have stopped the previous process.
  // Not persisted.
  bool recovered = false;
  // Monotonic time of intake, for latency figures; not persisted.
  std::chrono::steady_clock::time_point accepted_at{};

  nlohmann::json to_json() const;
  // The inbox row without "seq" (the writer splices in the seq it assigns): the same
  // bytes as to_json() less "seq", dumped, but written field by field. This runs once per
  // webhook message on the HTTP thread; building the DOM deep-copied the payload only to
  // dump it again.
  std::string dump_without_seq() const;
  static InboundEvent from_json(const nlohmann::json& j);  // throws nlohmann::json::exception
};

std::string conversation_key(std::string_view channel, std::string_view account, std::string_view user);

}  // namespace charla::runtime
