#include "runtime/handoff_index.hpp"

#include "log/log.hpp"

#include <chrono>
#include <vector>

namespace charla::runtime {

using nlohmann::json;

namespace {

constexpr std::string_view kPausedMark = "\"paused\":true";  // as Conversation::to_json dumps it

// The pre-index reader, kept for data dirs whose index is not built yet: a byte search
// first, so only paused records are parsed.
template <typename Fn>
void scan_paused(const store::ReadTxn& txn, Fn fn) {
  txn.scan(store::Db::conv, "", [&](std::string_view k, std::string_view v) {
    if (v.find(kPausedMark) == std::string_view::npos) return true;
    try {
      auto c = Conversation::from_json(std::string(k), json::parse(v));
      if (c.paused) fn(c);
    } catch (const std::exception&) {
    }
    return true;
  });
}

}  // namespace

std::optional<std::string> paused_index_value(const Conversation& c) {
  if (!c.paused) return std::nullopt;
  return store::be64(static_cast<std::uint64_t>(c.paused_ms > 0 ? c.paused_ms : 0));
}

void put_conversation(store::WriteTxn& txn, const Conversation& c) {
  txn.put(store::Db::conv, c.key, c.dump());
  if (auto v = paused_index_value(c))
    txn.put(store::Db::paused, c.key, *v);
  else
    txn.del(store::Db::paused, c.key);
}

void delete_conversation(store::WriteTxn& txn, std::string_view key) {
  txn.del(store::Db::conv, key);
  txn.del(store::Db::paused, key);
}

bool paused_index_ready(const store::ReadTxn& txn) { return txn.get(store::Db::meta, store::kPausedIndexMark).has_value(); }

std::size_t rebuild_paused_index(store::WriteTxn& txn) {
  std::vector<std::string> stale;
  txn.scan(store::Db::paused, "", [&](std::string_view k, std::string_view) {
    stale.emplace_back(k);
    return true;
  });
  for (const auto& k : stale) txn.del(store::Db::paused, k);
  std::vector<std::pair<std::string, std::string>> rows;  // written after the scan: no put under an open cursor
  txn.scan(store::Db::conv, "", [&](std::string_view k, std::string_view v) {
    if (v.find(kPausedMark) == std::string_view::npos) return true;
    try {
      auto c = Conversation::from_json(std::string(k), json::parse(v));
      if (auto value = paused_index_value(c)) rows.emplace_back(c.key, std::move(*value));
    } catch (const std::exception&) {  // unreadable: not listed before the index either
    }
    return true;
  });
  for (const auto& [k, v] : rows) txn.put(store::Db::paused, k, v);
  txn.put(store::Db::meta, store::kPausedIndexMark, "1");
  return rows.size();
}

void ensure_paused_index(store::Store& store) {
  if (paused_index_ready(store.read())) return;
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t paused = 0;
  store.write([&](store::WriteTxn& txn) { paused = rebuild_paused_index(txn); });
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  log::info("handoff_index_built", {{"paused", paused}, {"ms", ms}, {"conversations", store.read().count(store::Db::conv)}});
}

void each_paused_conversation(const store::ReadTxn& txn, const std::function<void(const Conversation&)>& fn) {
  if (!paused_index_ready(txn)) return scan_paused(txn, fn);
  txn.scan(store::Db::paused, "", [&](std::string_view k, std::string_view) {
    auto raw = txn.get(store::Db::conv, k);
    if (!raw) return true;
    try {
      auto c = Conversation::from_json(std::string(k), json::parse(*raw));
      if (c.paused) fn(c);
    } catch (const std::exception&) {
    }
    return true;
  });
}

}  // namespace charla::runtime
