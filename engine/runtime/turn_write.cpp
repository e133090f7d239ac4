#include "runtime/turn_write.hpp"

#include "runtime/event_log.hpp"
#include "runtime/handoff_index.hpp"

namespace charla::runtime {

using nlohmann::json;

json history_entry(const char* dir, const json& message, std::int64_t now_ms) {
  json entry{{"dir", dir}, {"type", message.value("type", "text")}, {"ts", now_ms}};
  if (message.contains("text") && message["text"].is_string()) entry["text"] = message["text"];
  if (message.contains("id") && message["id"].is_string()) entry["id"] = message["id"];
  if (message.contains("buttons")) entry["buttons"] = message["buttons"];
  // What a reader of the transcript (the web console) needs to show the message as it
  // was: a list's sections, a media link or id and caption, a location, the reply a
  // customer picked, the agent who sent it. Small by construction (Graph API limits).
  for (const char* key : {"button", "sections", "list", "media", "link", "caption", "filename", "location", "latitude",
                          "longitude", "address", "agent"})
    if (message.contains(key)) entry[key] = message[key];
  if (message.contains("name") && message["type"] == "template") entry["text"] = "[template " + message["name"].get<std::string>() + "]";
  return entry;
}

namespace {

// Read receipts (also when they show "typing…") and reactions are signals about the
// conversation, not lines of it. Kept out of the history, they cannot show up in
// ctx:transcript() or an LLM prompt as empty assistant turns.
bool is_conversational(const json& message) {
  const std::string type = message.value("type", "text");
  return type != "mark_read" && type != "reaction";
}

void put(PreparedTurn& p, store::Db db, std::string key, std::string value) {
  p.ops.push_back({db, std::move(key), std::move(value)});
}

void del(PreparedTurn& p, store::Db db, std::string key) { p.ops.push_back({db, std::move(key), std::nullopt}); }

void prepare_timers(PreparedTurn& p, const TurnPlan& plan, Conversation& conv) {
  if (plan.fired_timer) {
    del(p, store::Db::timers, *plan.fired_timer);
    auto it = conv.timers.find(plan.fired_timer_name);
    if (it != conv.timers.end() && it->second == plan.fired_timer_due) conv.timers.erase(it);
  }
  for (const auto& op : plan.timer_ops) {
    if (auto it = conv.timers.find(op.name); it != conv.timers.end()) {
      del(p, store::Db::timers, timer_key(it->second, conv.key, op.name));
      conv.timers.erase(it);
    }
    if (op.kind == lua::TimerOp::Kind::set) {
      put(p, store::Db::timers, timer_key(op.due_ms, conv.key, op.name), json{{"payload", op.payload}}.dump());
      conv.timers[op.name] = op.due_ms;
    }
  }
}

void append_history(PreparedTurn& p, const TurnPlan& plan, Conversation& conv, const json& entry) {
  put(p, store::Db::history, history_key(conv.key, conv.history_next++), entry.dump());
  while (conv.history_next - conv.history_first > plan.history_limit)
    del(p, store::Db::history, history_key(conv.key, conv.history_first++));
}

}  // namespace

PreparedTurn prepare_turn(const TurnPlan& plan) {
  TurnPlan copy = plan;
  return prepare_turn(std::move(copy));
}

PreparedTurn prepare_turn(TurnPlan&& plan) {
  PreparedTurn p;
  auto& out = p.outcome;
  Conversation conv = std::move(plan.conv);
  prepare_timers(p, plan, conv);
  for (auto& entry : plan.inbound) {
    append_history(p, plan, conv, entry);
    out.history.push_back(std::move(entry));
  }
  for (auto& message : plan.outbound) {
    OutboundRow row;
    row.conversation = conv.key;
    row.channel = conv.channel;
    row.account = conv.account;
    row.to = conv.user;
    row.created_ms = plan.now_ms;
    if (is_conversational(message)) {
      auto entry = history_entry("out", message, plan.now_ms);
      append_history(p, plan, conv, entry);
      out.history.push_back(std::move(entry));
    }
    row.message = std::move(message);
    p.outbox_values.push_back(row.dump());  // the seq is the key, not in the value
    out.rows.push_back(std::move(row));
  }
  for (auto seq : plan.inbox_seqs) del(p, store::Db::inbox, store::be64(seq));
  p.event_values = std::move(plan.event_rows);
  conv.updated_ms = plan.now_ms;
  put(p, store::Db::conv, conv.key, conv.dump());
  // The handoff index row goes in the same transaction as the record (a ctx:handoff
  // adds it; a row of a conversation no longer paused goes).
  if (auto row = paused_index_value(conv))
    put(p, store::Db::paused, conv.key, std::move(*row));
  else
    del(p, store::Db::paused, conv.key);
  out.conv = std::move(conv);
  return p;
}

void apply_prepared(store::WriteTxn& txn, PreparedTurn& p) {
  for (std::size_t i = 0; i < p.outbox_values.size(); ++i) {
    const std::uint64_t seq = txn.next_seq("outbox");
    txn.put(store::Db::outbox, store::be64(seq), p.outbox_values[i]);
    p.outcome.rows[i].seq = seq;
  }
  EventLog::put(txn, p.event_values);
  for (const auto& op : p.ops) {
    if (op.value)
      txn.put(op.db, op.key, *op.value);
    else
      txn.del(op.db, op.key);
  }
}

void apply_turn(store::WriteTxn& txn, const TurnPlan& plan, TurnOutcome& out) {
  PreparedTurn p = prepare_turn(plan);
  apply_prepared(txn, p);
  out = std::move(p.outcome);
}

}  // namespace charla::runtime
