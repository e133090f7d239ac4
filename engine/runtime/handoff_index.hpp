#pragma once
// The handoff index: the `paused` db holds one row per conversation paused for a human
// (key = conversation key, value = be64(paused_ms)). The handoff queue (GET
// /admin/handoffs, and the charla_handoffs_waiting gauge on every /metrics scrape)
// reads these few rows and the records they name, instead of every `conv` record
// (760 MB at 1,000,000 conversations).
//
// Invariants:
//  - Every put or delete of a `conv` record writes its index row in the SAME write
//    transaction: put_conversation / delete_conversation here, and prepare_turn's
//    paused_index_value op for turn commits. LMDB commits a transaction whole or not at
//    all, so a kill -9 at any point leaves the index matching the records; there is
//    nothing to repair after a crash.
//  - meta kPausedIndexMark says the index is complete. The store writes it when it
//    creates the db on a store with no conversations; a data dir written by an older
//    charla gets it from ensure_paused_index (one scan, in one transaction with the
//    mark). Unmarked, readers fall back to scanning `conv`, so they are never wrong.
//  - An older charla run on the data dir after this one does not keep the index; see
//    docs/operations.md ("The handoff index") for the one-line fix after a downgrade.
#include "runtime/conversation.hpp"
#include "store/store.hpp"

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace charla::runtime {

// The index row this record needs: its value when paused; nullopt means "no row" (delete).
std::optional<std::string> paused_index_value(const Conversation& c);

// Writes the record and its index row in the caller's transaction.
void put_conversation(store::WriteTxn& txn, const Conversation& c);
// Deletes the record (if any) and its index row.
void delete_conversation(store::WriteTxn& txn, std::string_view key);

bool paused_index_ready(const store::ReadTxn& txn);
// Drops every index row, rebuilds them from a scan of `conv` and marks the index
// complete. Returns how many conversations are paused. Safe to run again (the store
// may rerun a WriteFn).
std::size_t rebuild_paused_index(store::WriteTxn& txn);
// Builds the index once if the data dir has none yet (an upgrade); a no-op otherwise.
// Blocks until committed; throws store::StoreError if the write fails.
void ensure_paused_index(store::Store& store);

// Visits every paused conversation in key order: the index and the records it names
// when the index is marked complete, else a scan of `conv`. Unreadable records are
// skipped (they are the quarantine's business).
void each_paused_conversation(const store::ReadTxn& txn, const std::function<void(const Conversation&)>& fn);

}  // namespace charla::runtime
