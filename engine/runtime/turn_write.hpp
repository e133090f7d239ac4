#pragma once
// Everything one turn writes, applied inside a single store transaction: the
// conversation record, history entries (bounded per conversation; read receipts and
// reactions are sent but not recorded), outbox rows, timer rows, and the removal of
// the inbox entries (or the timer row) it consumed.
// apply_turn() may run more than once (the store retries a batch after growing the
// map), so it only reads from `plan` and rewrites `out` from scratch.
#include "lua/flow_host.hpp"
#include "runtime/channel.hpp"
#include "runtime/conversation.hpp"
#include "store/store.hpp"

#include <optional>
#include <string>
#include <vector>

namespace charla::runtime {

struct TurnPlan {
  Conversation conv;                        // record after the turn (timers/history updated by apply)
  std::vector<nlohmann::json> inbound;      // history entries for consumed messages
  std::vector<nlohmann::json> outbound;     // channel-neutral messages to send, in order
  std::vector<lua::TimerOp> timer_ops;
  std::optional<std::string> fired_timer;   // the timer row this turn consumed
  std::string fired_timer_name;
  std::int64_t fired_timer_due = 0;
  std::vector<std::uint64_t> inbox_seqs;
  std::size_t history_limit = 50;
  std::int64_t now_ms = 0;
  std::vector<std::string> event_rows;      // serialized `events` rows (runtime/event_log.hpp)
};

struct TurnOutcome {
  Conversation conv;                        // as committed
  std::vector<OutboundRow> rows;            // outbox rows with their seqs
  std::vector<nlohmann::json> history;      // entries appended
};

// A turn's writes with every key and value already serialized, so the store's writer
// thread only assigns outbox seqs and puts bytes. prepare_turn() runs on the worker.
struct PreparedTurn {
  struct Op {
    store::Db db;
    std::string key;
    std::optional<std::string> value;       // nullopt: delete the key
  };
  std::vector<Op> ops;                      // in the order apply_turn would run them
  std::vector<std::string> outbox_values;   // one per outcome.rows entry; keys are new seqs
  std::vector<std::string> event_values;    // `events` rows; keys are new seqs
  TurnOutcome outcome;                      // rows' seqs are set by apply_prepared()
};

PreparedTurn prepare_turn(const TurnPlan& plan);
// The same, taking the plan's record, history entries, outbound messages and event rows
// over instead of copying them; inbox_seqs, fired_timer and the scalars stay readable.
PreparedTurn prepare_turn(TurnPlan&& plan);
// Runs inside the store transaction; may run more than once (it only rewrites the
// rows' seqs in p.outcome).
void apply_prepared(store::WriteTxn& txn, PreparedTurn& p);

// prepare_turn + apply_prepared in one go.
void apply_turn(store::WriteTxn& txn, const TurnPlan& plan, TurnOutcome& out);

// The history entry for a message (inbound msg table or outbound neutral message).
nlohmann::json history_entry(const char* dir, const nlohmann::json& message, std::int64_t now_ms);

}  // namespace charla::runtime
