// Operator actions on stored conversations and on the quarantine. Each keeps its
// writes in one store transaction and answers with an HTTP status, so a bad id or an
// unreadable row is a clear refusal, never an exception on a loop thread.
#include "log/log.hpp"
#include "runtime/conversation.hpp"
#include "runtime/engine.hpp"
#include "runtime/event_log.hpp"
#include "runtime/handoff_index.hpp"
#include "runtime/quarantine.hpp"
#include "runtime/worker.hpp"

namespace charla::runtime {

using nlohmann::json;

namespace {

constexpr std::string_view kConversationIdPrefix = "conversation:";

// Deletes history by prefix and timers by the record's list, or, when the record is
// unreadable, by scanning every timer row (an admin action; the timers db is small).
void delete_conversation_rows(store::WriteTxn& txn, const std::string& key) {
  std::vector<std::string> doomed;
  txn.scan_prefix(store::Db::history, history_prefix(key), [&](std::string_view k, std::string_view) {
    doomed.emplace_back(k);
    return true;
  });
  for (auto& k : doomed) txn.del(store::Db::history, k);
  doomed.clear();
  txn.scan(store::Db::timers, "", [&](std::string_view k, std::string_view) {
    TimerKey t;
    if (parse_timer_key(k, t) && t.conversation == key) doomed.emplace_back(k);
    return true;
  });
  for (auto& k : doomed) txn.del(store::Db::timers, k);
  delete_conversation(txn, key);  // and its handoff index row
  txn.del(store::Db::quarantine, quarantine_conversation_key(key));
}

// conversation.reset, with the phone and state of the record when it is readable.
void record_reset(store::WriteTxn& txn, const EventLog& events, const std::string& key, std::int64_t now_ms) {
  if (!events.enabled()) return;
  std::string phone;
  json state = nullptr;
  if (auto raw = txn.get(store::Db::conv, key)) {
    auto j = json::parse(*raw, nullptr, false);
    if (j.is_object()) {
      phone = j.value("user", "");
      if (auto s = j.value("state", ""); !s.empty()) state = s;
    }
  }
  events.record(txn, "conversation.reset", key, phone, now_ms, {{"state", state}});
}

}  // namespace

void Engine::release_conversation(const std::string& conversation) {
  if (running_) worker_for(conversation).release(conversation);
}

json Engine::quarantine(std::string_view conversation) const { return list_quarantine(store_.read(), conversation); }

void Engine::reset_conversation(const std::string& key, AdminDone done) {
  // The conversation runs no turn until the delete has committed: a message arriving
  // meanwhile is handled by the fresh conversation, never by the old record.
  admin_write(key,
              [this, key, now = clock_.now_ms()](store::WriteTxn& txn) {
                record_reset(txn, events_, key, now);
                delete_conversation_rows(txn, key);
              },
              [this, key, done = std::move(done)](const std::string& error) -> std::vector<InboundEvent> {
                if (!error.empty()) {
                  done(500, error);
                  return {};
                }
                log::info("conversation_reset", {{"conversation", key}});
                release_conversation(key);
                done(200, "reset");
                return {};
              });
}

void Engine::retry_quarantined(const std::string& id, AdminDone done) {
  auto key = quarantine_key_for_id(id);
  if (!key) return done(400, "a quarantine id is message:<seq> or conversation:<key>");
  if (!running_) return done(503, "engine is not running");
  if (key->starts_with(kConversationIdPrefix)) return delete_quarantined(id, std::move(done));
  auto event = std::make_shared<std::optional<InboundEvent>>();
  auto problem = std::make_shared<std::pair<unsigned, std::string>>();
  store_.submit(
      [key = *key, id, event, problem](store::WriteTxn& txn) {
        event->reset();
        *problem = {};
        auto raw = txn.get(store::Db::quarantine, key);
        if (!raw) {
          *problem = {404, "nothing is quarantined under " + id};
          return;
        }
        auto row = json::parse(*raw, nullptr, false);
        std::optional<InboundEvent> e;
        if (row.is_object() && row.contains("event")) {
          try {
            e = InboundEvent::from_json(row["event"]);
          } catch (const std::exception&) {
          }
        }
        if (!e) {
          *problem = {409, "quarantined entry " + id + " is not a readable event and cannot run; delete it"};
          return;
        }
        e->seq = uint_field(row, "seq");
        e->attempts = 0;  // a fresh start: it may fail N more times before it is set aside again
        txn.put(store::Db::inbox, store::be64(e->seq), e->to_json().dump());
        txn.del(store::Db::quarantine, key);
        *event = std::move(e);
      },
      [this, id, event, problem, done = std::move(done)](const std::string& error) {
        if (!error.empty()) return done(500, error);
        if (problem->first) return done(problem->first, problem->second);
        log::info("quarantine_retried", {{"id", id}, {"conversation", (*event)->conversation}});
        (*event)->accepted_at = std::chrono::steady_clock::now();
        deliver(std::move(**event));
        done(200, "retried");
      });
}

void Engine::delete_quarantined(const std::string& id, AdminDone done) {
  auto key = quarantine_key_for_id(id);
  if (!key) return done(400, "a quarantine id is message:<seq> or conversation:<key>");
  auto found = std::make_shared<bool>(false);
  store_.submit([key = *key, found](store::WriteTxn& txn) { *found = txn.del(store::Db::quarantine, key); },
                [this, id, key = *key, found, done = std::move(done)](const std::string& error) {
                  if (!error.empty()) return done(500, error);
                  if (!*found) return done(404, "nothing is quarantined under " + id);
                  log::info("quarantine_removed", {{"id", id}});
                  if (key.starts_with(kConversationIdPrefix))
                    release_conversation(key.substr(kConversationIdPrefix.size()));
                  done(200, "removed");
                });
}

}  // namespace charla::runtime
