#pragma once
// Which events a change to a conversation causes (runtime/event_log.hpp for where they
// go). Kept apart from the turn code so turns and admin operations name the same
// events with the same payloads:
//   conversation.started  {"flow", "state", "channel", "name"}  the first committed flow turn
//   state.changed         {"flow", "from", "to"}                 from is null for a new conversation
//   handoff.started       {"reason", "state"}                    ctx:handoff, or an admin pause
//   handoff.ended         {"state"}                               an admin resume
//   conversation.reset    {"state"}                               the state it had, or null
//   message.failed        {"outbox_id", "status", "type", "error"} an outbox row given up on
//                         (status "dead" after max attempts, "failed" when refused for good)
#include "runtime/conversation.hpp"
#include "runtime/event_log.hpp"
#include "lua/flow_host.hpp"

#include <string>
#include <vector>

namespace charla::runtime {

// The rows of one successful flow turn, in this order: conversation.started, the
// flow's ctx:emit events, state.changed, handoff.started. `before` is the record as
// the turn found it, `after` as it commits.
std::vector<std::string> turn_event_rows(const EventLog& log, const Conversation& before, const Conversation& after,
                                         const std::vector<lua::EmittedEvent>& emitted, std::int64_t now_ms);

// For operator changes (pause, resume, set state): records state.changed,
// handoff.started or handoff.ended inside the caller's transaction.
void record_conversation_change(store::WriteTxn& txn, const EventLog& log, const Conversation& before,
                                const Conversation& after, std::int64_t now_ms);

}  // namespace charla::runtime
