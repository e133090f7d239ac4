#include "runtime/seen_pruning.hpp"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace charla::runtime {
namespace {

struct Pruning : std::enable_shared_from_this<Pruning> {
  store::Store& store;
  std::int64_t cutoff_ms;
  std::size_t rows_per_slice;
  std::function<void(const SeenPruneResult&)> done;
  std::string resume_from;  // first key of the next slice
  SeenPruneResult result;

  Pruning(store::Store& s, std::int64_t cutoff, std::size_t rows, std::function<void(const SeenPruneResult&)> d)
      : store(s), cutoff_ms(cutoff), rows_per_slice(std::max<std::size_t>(rows, 1)), done(std::move(d)) {}

  void next_slice() {
    auto self = shared_from_this();
    auto finished = std::make_shared<bool>(false);
    auto slice = std::make_shared<SeenPruneResult>();
    auto resume = std::make_shared<std::string>();
    store.submit(
        [self, finished, slice, resume](store::WriteTxn& txn) {
          // The write may run again after a map resize: start from a clean slate.
          *slice = SeenPruneResult{};
          *finished = true;
          std::vector<std::string> expired;
          txn.scan(store::Db::seen, self->resume_from, [&](std::string_view key, std::string_view value) {
            if (slice->visited == self->rows_per_slice) {
              *resume = std::string(key);
              *finished = false;
              return false;
            }
            ++slice->visited;
            // value: be64(inbox seq) + be64(accepted at, ms); rows without a time are kept.
            if (value.size() >= 16 && static_cast<std::int64_t>(store::from_be64(value.substr(8))) < self->cutoff_ms)
              expired.emplace_back(key);
            return true;
          });
          for (const auto& key : expired) txn.del(store::Db::seen, key);
          slice->pruned = expired.size();
        },
        [self, finished, slice, resume](const std::string& error) {
          self->result.visited += slice->visited;
          self->result.pruned += slice->pruned;
          if (!error.empty()) self->result.error = error;
          if (!error.empty() || *finished) return self->done(self->result);
          self->resume_from = *resume;
          self->next_slice();
        });
  }
};

}  // namespace

void prune_seen(store::Store& store, std::int64_t cutoff_ms, std::size_t rows_per_slice,
                std::function<void(const SeenPruneResult&)> done) {
  std::make_shared<Pruning>(store, cutoff_ms, rows_per_slice, std::move(done))->next_slice();
}

}  // namespace charla::runtime
