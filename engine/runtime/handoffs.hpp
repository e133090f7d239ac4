#pragma once
// The handoff queue: conversations paused for a human (ctx:handoff or POST .../pause),
// read from the `conv` db. A full scan, but one that parses only paused records (a
// byte search first), so it stays cheap for /metrics scrapes at tens of thousands of
// conversations.
#include "store/store.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>

namespace charla::runtime {

// Oldest first: {"handoffs": [{conversation, phone, name, channel, account, flow, state,
// reason, since_ms, waiting_seconds, last_inbound_ms, messages_since, last_message}], "count"}.
nlohmann::json list_handoffs(const store::ReadTxn& txn, std::int64_t now_ms);
std::size_t count_handoffs(const store::ReadTxn& txn);

}  // namespace charla::runtime
