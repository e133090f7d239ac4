// What a worker does with events it must not simply run:
//  - Poison messages. An inbox entry whose turn keeps stopping the process (a crash,
//    a hang ended by kill -9) would run again at every start: a crash loop. Only
//    events delivered by startup recovery are charged: before their turn runs, the
//    entry's `attempts` counter is incremented durably, so the normal path writes
//    nothing extra. An entry whose runs did not finish `inbox_max_attempts` times
//    (its first run plus `attempts` recovered runs, less the runs a graceful stop
//    cancelled, counted in `clean_stops`) is moved to the quarantine instead, and the
//    conversation goes on with its next event.
//    Turn errors the engine catches (Lua error, budget) are not poison: they answer
//    with the fallback and finish the entry.
//  - Conversations whose stored record cannot be read: set aside, see quarantine.hpp.
#include "log/log.hpp"
#include "runtime/quarantine.hpp"
#include "runtime/worker.hpp"

#include <boost/asio/post.hpp>

namespace charla::runtime {

namespace asio = boost::asio;
using nlohmann::json;

void Worker::release(std::string conversation) {
  asio::post(io_, [this, key = std::move(conversation)] {
    auto it = mailboxes_.find(key);
    if (it == mailboxes_.end()) return;
    it->second.quarantined = false;
    cache_.erase(key);
    log::info("conversation_released", {{"conversation", key}, {"held_events", it->second.queue.size()}});
    start_next(key);
  });
}

void Worker::set_aside(const std::string& key, Mailbox& box, const std::string& reason) {
  box.quarantined = true;
  cache_.erase(key);
  engine_.note_corrupt_row();
  engine_.note_quarantined();
  log::error("conversation_quarantined", {{"conversation", key}, {"reason", reason}, {"held_events", box.queue.size()}});
  const auto now = engine_.clock_.now_ms();
  engine_.store_.submit([key, reason, now](store::WriteTxn& txn) { quarantine_conversation(txn, key, reason, now); },
                        [key](const std::string& error) {
                          // The mark on this worker still holds the events; the next start finds the row again.
                          if (!error.empty()) log::error("quarantine_write_failed", {{"conversation", key}, {"error", error}});
                        });
}

void Worker::charge_recovered(std::shared_ptr<TurnContext> turn) {
  std::vector<std::uint64_t> seqs;
  for (const auto& e : turn->events)
    if (e.recovered && e.seq) seqs.push_back(e.seq);
  auto dropped = std::make_shared<std::vector<std::uint64_t>>();
  const auto max_attempts = std::max<std::uint64_t>(1, engine_.options_.inbox_max_attempts);
  const auto now = engine_.clock_.now_ms();
  engine_.store_.submit(
      [seqs, dropped, max_attempts, now](store::WriteTxn& txn) {
        dropped->clear();
        for (auto seq : seqs) {
          auto raw = txn.get(store::Db::inbox, store::be64(seq));
          if (!raw) {  // no longer pending (removed by an operator): nothing to run
            dropped->push_back(seq);
            continue;
          }
          auto row = json::parse(*raw, nullptr, false);
          const auto attempts = uint_field(row, "attempts");
          const auto clean_stops = uint_field(row, "clean_stops");
          // Runs that did not finish: the first (normal) run and every recovered one,
          // less those a graceful stop cancelled.
          const auto failed = attempts + 1 - std::min(clean_stops, attempts + 1);
          if (!row.is_object() || failed >= max_attempts) {
            const auto reason = row.is_object() ? "its turn did not finish in " + std::to_string(failed) +
                                                      " attempts (the process stopped while it ran)"
                                                : std::string("unreadable inbox row");
            quarantine_inbox_row(txn, seq, *raw, reason, now);
            dropped->push_back(seq);
            continue;
          }
          row["attempts"] = attempts + 1;
          txn.put(store::Db::inbox, store::be64(seq), row.dump());
        }
      },
      [this, turn, dropped](const std::string& error) {
        asio::post(io_, [this, turn, dropped, error] { on_charged(turn, *dropped, error); });
      });
}

void Worker::on_charged(std::shared_ptr<TurnContext> turn, const std::vector<std::uint64_t>& dropped,
                        const std::string& error) {
  if (!error.empty()) {  // the events go back to the mailbox, still marked, and are charged again
    engine_.note_commit_failure();
    log::error("inbox_attempt_write_failed", {{"conversation", turn->key}, {"error", error}});
    return retry_later(std::move(turn));
  }
  auto& events = turn->events;
  for (auto seq : dropped) {
    auto it = std::find_if(events.begin(), events.end(), [seq](auto& e) { return e.seq == seq; });
    if (it == events.end()) continue;
    engine_.note_quarantined();
    log::error("inbox_entry_quarantined", {{"conversation", turn->key}, {"seq", seq}, {"attempts", it->attempts + 1},
                                           {"reason", "its turn stopped the process on every attempt"}});
    events.erase(it);
  }
  for (auto& e : events) e.recovered = false;
  if (events.empty()) return end_turn_without_commit(turn->key);
  run(std::move(turn));
}

// A graceful stop cancelled this turn: it did not fail, so the entry's next recovered
// run is not one closer to the quarantine. Engine::stop flushes the store after the
// workers stop, so this write lands before the process exits.
void Worker::note_clean_stop(const TurnContext& turn) {
  if (turn.is_timer()) return;
  std::vector<std::uint64_t> seqs;
  for (const auto& e : turn.events)
    if (e.seq) seqs.push_back(e.seq);
  engine_.store_.submit(
      [seqs](store::WriteTxn& txn) {
        for (auto seq : seqs) {
          auto raw = txn.get(store::Db::inbox, store::be64(seq));
          if (!raw) continue;
          auto row = json::parse(*raw, nullptr, false);
          if (!row.is_object()) continue;
          row["clean_stops"] = uint_field(row, "clean_stops") + 1;
          txn.put(store::Db::inbox, store::be64(seq), row.dump());
        }
      },
      [](const std::string& error) {
        if (!error.empty()) log::error("inbox_clean_stop_write_failed", {{"error", error}});
      });
}

void Worker::end_turn_without_commit(const std::string& key) {
  cache_.erase(key);  // nothing was written; LMDB is authoritative
  mailboxes_[key].running = false;
  --active_;
  start_next(key);
}

}  // namespace charla::runtime
