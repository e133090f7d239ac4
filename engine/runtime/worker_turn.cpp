// The life of one turn on a worker: build the input, run the flow, plan the
// writes, commit them in one transaction, then dispatch outbound rows and start
// the conversation's next event.
#include "log/log.hpp"
#include "runtime/turn_events.hpp"
#include "runtime/turn_write.hpp"
#include "runtime/worker.hpp"

#include <boost/asio/post.hpp>

namespace charla::runtime {

namespace asio = boost::asio;
using nlohmann::json;


namespace {

// Double-texted messages become one msg: the last message, with every text joined.
json merged_message(const std::vector<InboundEvent>& events) {
  json msg = events.back().payload;
  if (events.size() == 1) return msg;
  std::string text;
  json ids = json::array();
  for (const auto& e : events) {
    if (!text.empty()) text += "\n";
    text += e.payload.value("text", "");
    ids.push_back(e.payload.value("id", ""));
  }
  msg["text"] = text;
  msg["merged_ids"] = ids;
  return msg;
}

}  // namespace

lua::TurnInput Worker::turn_input(const TurnContext& turn) {
  const auto& conv = turn.cached.conv;
  lua::TurnInput in;
  in.turn_id = turn.id;
  in.conversation = conv.key;
  in.channel = conv.channel;
  in.phone = conv.user;
  in.name = conv.name;
  in.flow = conv.flow;
  in.state = conv.state;
  in.data = conv.data;
  in.history = turn.cached.history;
  in.now_ms = engine_.clock_.now_ms();
  if (turn.is_timer())
    in.event = {{"kind", "timer"}, {"name", turn.first().payload.value("name", "")},
                {"payload", turn.first().payload.value("payload", json())}};
  else if (turn.first().kind == InboundEvent::Kind::enter)
    in.event = {{"kind", "enter"}};
  else
    in.event = {{"kind", "message"}, {"msg", merged_message(turn.events)}};
  if (auto it = engine_.channels_.find(conv.channel); it != engine_.channels_.end()) {
    Channel* channel = it->second;
    in.validate_outbound = [channel](const json& m) { return channel->validate(m); };
  }
  return in;
}

void Worker::run(std::shared_ptr<TurnContext> turn) {
  turn->id = (static_cast<std::uint64_t>(index_) << 48) | next_turn_id_++;
  turn->accepted_at = turn->first().accepted_at;
  auto& conv = turn->cached.conv;
  const auto now = engine_.clock_.now_ms();
  auto& plan = turn->plan;
  plan.history_limit = engine_.options_.history_limit;
  plan.now_ms = now;
  for (const auto& e : turn->events)
    if (e.seq) plan.inbox_seqs.push_back(e.seq);

  if (turn->is_timer()) {
    const auto& p = turn->first().payload;
    plan.fired_timer_name = p.value("name", "");
    plan.fired_timer_due = p.value("due_ms", std::int64_t{0});
    plan.fired_timer = timer_key(plan.fired_timer_due, conv.key, plan.fired_timer_name);
    auto it = conv.timers.find(plan.fired_timer_name);
    if (it == conv.timers.end() || it->second != plan.fired_timer_due) {
      // Re-armed or cancelled since this row was read: consume the row, run nothing.
      plan.conv = conv;
      return commit(std::move(turn));
    }
    if (conv.paused) {
      // A human agent has the conversation: no bot reminders now. The timer is held in
      // the record (its row consumed) and resume puts it back, due at once.
      conv.held_timers[plan.fired_timer_name] = {{"due_ms", plan.fired_timer_due},
                                                 {"payload", p.value("payload", json())}};
      plan.conv = conv;
      return commit(std::move(turn));
    }
  } else if (turn->first().kind == InboundEvent::Kind::enter) {
    if (conv.paused) {  // paused again since it was queued: the agent keeps the conversation
      plan.conv = conv;
      return commit(std::move(turn));
    }
  } else {
    for (const auto& e : turn->events) {
      plan.inbound.push_back(history_entry("in", e.payload, now));
      if (!e.name.empty()) conv.name = e.name;
    }
    conv.last_inbound_ms = now;
    if (conv.paused) {  // a human agent has the conversation: record, do not answer
      plan.conv = conv;
      return commit(std::move(turn));
    }
  }
  auto input = turn_input(*turn);
  ++suspended_;
  host_->run_turn(std::move(input), [this, turn](lua::TurnResult result) mutable {
    --suspended_;
    on_turn_result(std::move(turn), std::move(result));
  });
}

void Worker::on_turn_result(std::shared_ptr<TurnContext> turn, lua::TurnResult result) {
  if (stopping_ && !result.ok && result.error_kind == "time") {
    // Cancelled by shutdown: the inbox entry runs again at next start, and this run
    // is not counted against it as a poison attempt.
    note_clean_stop(*turn);
    mailboxes_[turn->key].running = false;
    --active_;
    return;
  }
  auto& plan = turn->plan;
  auto conv = std::move(turn->cached.conv);  // not read again: the plan carries the record on
  const auto* flow = host_->flow(conv.flow);
  if (result.ok) {
    const Conversation before = engine_.events_.enabled() ? conv : Conversation{};
    conv.state = result.state;
    conv.data = std::move(result.data);
    if (flow) conv.flow_version = flow->version;
    if (result.handoff) {
      if (!conv.paused) conv.paused_ms = plan.now_ms;  // the turn's time, as its history entries: the message that asked counts
      conv.paused = true;
      conv.handoff_reason = *result.handoff;
    }
    plan.outbound = std::move(result.outbound);
    plan.timer_ops = std::move(result.timers);
    plan.event_rows = turn_event_rows(engine_.events_, before, conv, result.emitted, plan.now_ms);
    turn->emitted = std::move(result.emitted);
  } else {
    turn->ok = false;
    turn->error = result.error;
    ++conv.errors;
    log::error("turn_failed", {{"conversation", conv.key}, {"turn", turn->id}, {"flow", conv.flow},
                               {"state", conv.state}, {"kind", result.error_kind}, {"error", result.error}});
    // A flow that let an LLM failure escalate into an error gets its llm_fallback text.
    std::string fallback = flow && result.llm_failed && !flow->llm_fallback.empty() ? flow->llm_fallback
                           : flow && !flow->fallback.empty()                        ? flow->fallback
                                                                                    : engine_.options_.host.fallback_text;
    plan.outbound = {json{{"type", "text"}, {"text", fallback}}};
  }
  ++conv.turns;
  plan.conv = std::move(conv);
  commit(std::move(turn));
}

// Serializes the turn here, on the worker; the writer thread only puts the bytes.
void Worker::commit(std::shared_ptr<TurnContext> turn) {
  // The plan is not read again but for inbox_seqs and fired_timer, which it keeps.
  auto prepared = std::make_shared<PreparedTurn>(prepare_turn(std::move(turn->plan)));
  engine_.store_.submit(
      [prepared](store::WriteTxn& txn) { apply_prepared(txn, *prepared); },
      [this, turn, prepared](const std::string& error) {
        asio::post(io_, [this, turn, prepared, error] {
          turn->outcome = std::move(prepared->outcome);
          on_committed(turn, error);
        });
      });
}

void Worker::retry_later(std::shared_ptr<TurnContext> turn) {
  // The turn's events are still durable (inbox/timers) and go back to the front of
  // the mailbox; the flow runs again once the store accepts writes.
  auto& box = mailboxes_[turn->key];
  for (auto it = turn->events.rbegin(); it != turn->events.rend(); ++it) box.queue.push_front(std::move(*it));
  cache_.erase(turn->key);
  box.timer = std::make_unique<asio::steady_timer>(io_, engine_.options_.commit_retry);
  box.timer->async_wait([this, key = turn->key](const boost::system::error_code&) {
    auto it = mailboxes_.find(key);
    if (it == mailboxes_.end()) return;
    it->second.timer.reset();
    it->second.running = false;
    --active_;
    start_next(key);
  });
}

void Worker::on_committed(std::shared_ptr<TurnContext> turn, const std::string& error) {
  if (!error.empty()) {
    engine_.note_commit_failure();
    // A failing store has logged its cause once (store_commit_failing): not once per retry.
    log::write(engine_.store_.stats().commit_failing ? log::Level::debug : log::Level::error, "turn_commit_failed",
               {{"conversation", turn->key}, {"turn", turn->id}, {"error", error}});
    return retry_later(std::move(turn));
  }
  auto& out = turn->outcome;
  TurnReport report;
  report.conversation = turn->key;
  report.channel = out.conv.channel;
  report.account = out.conv.account;
  report.user = out.conv.user;
  report.state = out.conv.state;
  report.ok = turn->ok;
  report.error = turn->error;
  report.inbox_seqs = turn->plan.inbox_seqs;
  report.timer = turn->is_timer();
  report.latency = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - turn->accepted_at);
  report.outbound = out.rows;
  report.emitted = std::move(turn->emitted);

  Cached updated{std::move(out.conv), std::move(turn->cached.history)};  // the turn is done with both
  // A plugin call or a finished Lua turn may still hold the array: then the new entries go
  // into a copy, so what they read never changes under them.
  if (!updated.history)
    updated.history = std::make_shared<json>(json::array());
  else if (updated.history.use_count() > 1)
    updated.history = std::make_shared<json>(*updated.history);
  json& history = *updated.history;
  for (auto& entry : out.history) history.push_back(std::move(entry));
  if (history.size() > engine_.options_.history_limit) {
    const auto excess = static_cast<std::ptrdiff_t>(history.size() - engine_.options_.history_limit);
    history.erase(history.begin(), history.begin() + excess);
  }
  cache_.put(turn->key, std::move(updated));

  if (!out.rows.empty()) {
    if (auto it = engine_.channels_.find(report.channel); it != engine_.channels_.end())
      it->second->dispatch(std::move(out.rows));
    else
      log::warn("no_channel", {{"conversation", turn->key}, {"channel", report.channel}});
  }
  engine_.turn_committed(report, turn->plan.fired_timer ? *turn->plan.fired_timer : std::string());
  auto& box = mailboxes_[turn->key];
  box.running = false;
  --active_;
  start_next(turn->key);
}

}  // namespace charla::runtime
