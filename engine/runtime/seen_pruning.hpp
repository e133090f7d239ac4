#pragma once
// Pruning of the `seen` db, the dedup rows of inbound message ids. Meta redelivers a
// webhook for up to 7 days, so a row older than the retention window can no longer
// stop a duplicate; without pruning the db grows by one row per message forever.
//
// Rows are visited in key order in bounded slices, one write per slice, so a prune
// never holds the store's single writer for long and intake acks keep flowing
// between slices.
#include "store/store.hpp"

#include <cstdint>
#include <functional>

namespace charla::runtime {

struct SeenPruneResult {
  std::size_t visited = 0, pruned = 0;
  std::string error;  // non-empty: a slice failed to commit; the rest was not visited
};

// Deletes seen rows written before `cutoff_ms` (wall clock). `done` runs on the
// store's writer thread after the last slice is durable.
void prune_seen(store::Store& store, std::int64_t cutoff_ms, std::size_t rows_per_slice,
                std::function<void(const SeenPruneResult&)> done);

}  // namespace charla::runtime
