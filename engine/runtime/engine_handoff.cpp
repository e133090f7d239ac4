// Human handoff as operator actions: pause, resume (optionally at a state, running its
// enter) and set state. Each is one store transaction on the conversation's worker,
// and the conversation runs no turn until it has committed (Engine::admin_write).
//
// Timers while paused: a timer that comes due is not run. Its row is consumed and it is
// held in the record (Conversation::held_timers); resume writes it back as a row with
// its original due time, so one whose time passed during the pause fires right after
// the resume, and one not yet due fires when due.
#include "log/log.hpp"
#include "runtime/engine.hpp"
#include "runtime/handoff_index.hpp"
#include "runtime/turn_events.hpp"
#include "runtime/worker.hpp"

namespace charla::runtime {

using nlohmann::json;

namespace {

struct ChangeOutcome {
  unsigned status = 0;       // non-zero: refused, nothing written
  std::string error;
  bool run_enter = false;    // queue an enter event for the (new) state
};
using Change = std::function<ChangeOutcome(Conversation&, store::WriteTxn&)>;

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Held timers go back to the timers db; a name the flow set again since keeps the newer one.
void rearm_held_timers(Conversation& c, store::WriteTxn& txn) {
  for (const auto& [name, held] : c.held_timers) {
    if (c.timers.count(name)) continue;
    const auto due = held.value("due_ms", std::int64_t{0});
    txn.put(store::Db::timers, timer_key(due, c.key, name), json{{"payload", held.value("payload", json())}}.dump());
    c.timers[name] = due;
  }
  c.held_timers.clear();
}

}  // namespace

void Engine::admin_write(const std::string& conversation, AdminWrite write, AdminThen then) {
  worker_for(conversation).post_write(conversation, std::move(write), std::move(then));
}

// Reads the record, applies `change`, writes it back (and the enter event's inbox row).
static void change_conversation(Engine& engine, const std::string& key, Change change, Engine::ConversationDone done) {
  struct Result {
    ChangeOutcome outcome;
    Conversation conv;
    std::optional<InboundEvent> enter;
  };
  auto result = std::make_shared<Result>();
  const auto now = engine.clock().now_ms();
  engine.admin_write(
      key,
      [&engine, key, change, result, now](store::WriteTxn& txn) {
        *result = Result{};
        auto raw = txn.get(store::Db::conv, key);
        if (!raw) {
          result->outcome = {404, "no conversation " + key};
          return;
        }
        Conversation c;
        try {
          c = Conversation::from_json(key, json::parse(*raw));
        } catch (const std::exception& e) {
          result->outcome = {409, std::string("stored record unreadable: ") + e.what() +
                                      "; reset the conversation or see GET /admin/quarantine"};
          return;
        }
        const Conversation before = c;
        result->outcome = change(c, txn);
        if (result->outcome.status) return;
        c.updated_ms = now;
        put_conversation(txn, c);  // the record and its handoff index row
        // handoff.started/ended and state.changed, in the same commit as the change.
        record_conversation_change(txn, engine.events(), before, c, now);
        if (result->outcome.run_enter) {
          // Durable like a message: it runs even if the process stops before it does.
          InboundEvent e;
          e.kind = InboundEvent::Kind::enter;
          e.conversation = key;
          e.channel = c.channel;
          e.account = c.account;
          e.user = c.user;
          e.payload = {{"state", c.state}};
          e.received_ms = now;
          e.seq = txn.next_seq("inbox");
          txn.put(store::Db::inbox, store::be64(e.seq), e.to_json().dump());
          result->enter = std::move(e);
        }
        result->conv = std::move(c);
      },
      [result, done](const std::string& error) -> std::vector<InboundEvent> {
        if (!error.empty()) {
          done(500, error, nullptr);
          return {};
        }
        if (result->outcome.status) {
          done(result->outcome.status, result->outcome.error, nullptr);
          return {};
        }
        done(200, {}, &result->conv);
        std::vector<InboundEvent> first;
        if (result->enter) {
          result->enter->accepted_at = std::chrono::steady_clock::now();
          first.push_back(std::move(*result->enter));
        }
        return first;
      });
}

// 400 naming the flow's states when `state` is not one of them.
static std::optional<ChangeOutcome> unknown_state(const Engine& engine, const Conversation& c, const std::string& state) {
  const auto* flow = engine.flow(c.flow);
  if (!flow) return ChangeOutcome{409, "flow '" + c.flow + "' of conversation " + c.key + " is not loaded"};
  if (std::find(flow->states.begin(), flow->states.end(), state) != flow->states.end()) return std::nullopt;
  return ChangeOutcome{400, "flow '" + c.flow + "' has no state '" + state + "'; its states are: " + join(flow->states)};
}

void Engine::pause_conversation(const std::string& key, std::optional<std::string> reason, ConversationDone done) {
  const auto now = clock_.now_ms();
  change_conversation(*this, key, [reason, now](Conversation& c, store::WriteTxn&) {
    if (!c.paused) c.paused_ms = now;
    c.paused = true;
    if (reason) c.handoff_reason = *reason;
    return ChangeOutcome{};
  }, [key, done](unsigned status, const std::string& error, const Conversation* c) {
    if (c) log::info("conversation_paused", {{"conversation", key}, {"reason", c->handoff_reason}});
    done(status, error, c);
  });
}

void Engine::resume_conversation(const std::string& key, std::optional<std::string> state, ConversationDone done) {
  change_conversation(*this, key, [this, state](Conversation& c, store::WriteTxn& txn) {
    if (state) {
      if (auto refused = unknown_state(*this, c, *state)) return *refused;
    }
    c.paused = false;
    c.paused_ms = 0;
    c.handoff_reason.clear();
    rearm_held_timers(c, txn);
    if (!state) return ChangeOutcome{};
    c.state = *state;
    return ChangeOutcome{0, {}, true};
  }, [key, done](unsigned status, const std::string& error, const Conversation* c) {
    if (c) log::info("conversation_resumed", {{"conversation", key}, {"state", c->state}});
    done(status, error, c);
  });
}

void Engine::set_conversation_state(const std::string& key, const std::string& state, bool enter, ConversationDone done) {
  change_conversation(*this, key, [this, state, enter](Conversation& c, store::WriteTxn&) {
    if (auto refused = unknown_state(*this, c, state)) return *refused;
    if (enter && c.paused)
      return ChangeOutcome{409, "conversation " + c.key + " is paused (a human has it), so its enter would not run; "
                                "use POST /admin/conversations/{key}/resume with {\"state\": \"" + state + "\"}"};
    c.state = state;
    return ChangeOutcome{0, {}, enter};
  }, [key, done](unsigned status, const std::string& error, const Conversation* c) {
    if (c) log::info("conversation_state_set", {{"conversation", key}, {"state", c->state}});
    done(status, error, c);
  });
}

}  // namespace charla::runtime
