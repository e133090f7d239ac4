#include "runtime/turn_events.hpp"

namespace charla::runtime {

using nlohmann::json;

namespace {

void append(std::vector<std::string>& out, std::vector<std::string> rows) {
  for (auto& r : rows) out.push_back(std::move(r));
}

json state_or_null(const std::string& state) { return state.empty() ? json(nullptr) : json(state); }

// state.changed and the handoff edge between two records.
void append_changes(std::vector<std::string>& out, const EventLog& log, const Conversation& before,
                    const Conversation& after, std::int64_t now_ms) {
  if (after.state != before.state && !after.state.empty())
    append(out, log.rows("state.changed", after.key, after.user, now_ms,
                         {{"flow", after.flow}, {"from", state_or_null(before.state)}, {"to", after.state}}));
  if (after.paused && !before.paused)
    append(out, log.rows("handoff.started", after.key, after.user, now_ms,
                         {{"reason", after.handoff_reason}, {"state", after.state}}));
  if (!after.paused && before.paused)
    append(out, log.rows("handoff.ended", after.key, after.user, now_ms, {{"state", after.state}}));
}

}  // namespace

std::vector<std::string> turn_event_rows(const EventLog& log, const Conversation& before, const Conversation& after,
                                         const std::vector<lua::EmittedEvent>& emitted, std::int64_t now_ms) {
  std::vector<std::string> out;
  if (!log.enabled()) return out;
  if (before.state.empty() && !after.state.empty())
    append(out, log.rows("conversation.started", after.key, after.user, now_ms,
                         {{"flow", after.flow}, {"state", after.state}, {"channel", after.channel}, {"name", after.name}}));
  for (const auto& e : emitted) append(out, log.rows(e.name, after.key, after.user, now_ms, e.payload));
  append_changes(out, log, before, after, now_ms);
  return out;
}

void record_conversation_change(store::WriteTxn& txn, const EventLog& log, const Conversation& before,
                                const Conversation& after, std::int64_t now_ms) {
  if (!log.enabled()) return;
  std::vector<std::string> rows;
  append_changes(rows, log, before, after, now_ms);
  EventLog::put(txn, rows);
}

}  // namespace charla::runtime
