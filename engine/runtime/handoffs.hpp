#pragma once
// The handoff queue: conversations paused for a human (ctx:handoff or POST .../pause),
// read through the handoff index (runtime/handoff_index.hpp): the paused conversations'
// rows and the records they name, so a /metrics scrape costs the same with 1,000,000
// conversations as with ten.
#include "store/store.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>

namespace charla::runtime {

// Oldest first: {"handoffs": [{conversation, phone, name, channel, account, flow, state,
// reason, since_ms, waiting_seconds, last_inbound_ms, messages_since, last_message}], "count"}.
nlohmann::json list_handoffs(const store::ReadTxn& txn, std::int64_t now_ms);
std::size_t count_handoffs(const store::ReadTxn& txn);

}  // namespace charla::runtime
