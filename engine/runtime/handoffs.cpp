#include "runtime/handoffs.hpp"

#include "runtime/conversation.hpp"
#include "runtime/handoff_index.hpp"

#include <algorithm>

namespace charla::runtime {

using nlohmann::json;

json list_handoffs(const store::ReadTxn& txn, std::int64_t now_ms) {
  std::vector<json> items;
  each_paused_conversation(txn, [&](const Conversation& c) {
    // Records paused before paused_ms existed: their last update is the best guess.
    const auto since = c.paused_ms ? c.paused_ms : c.updated_ms;
    std::size_t messages = 0;
    json last;
    txn.scan_prefix(store::Db::history, history_prefix(c.key), [&](std::string_view, std::string_view v) {
      auto entry = json::parse(v, nullptr, false);
      if (entry.is_object() && entry.value("dir", "") == "in" && entry.value("ts", std::int64_t{0}) >= since) {
        ++messages;
        last = entry.value("text", "[" + entry.value("type", std::string("message")) + "]");
      }
      return true;
    });
    items.push_back({{"conversation", c.key}, {"phone", c.user}, {"name", c.name}, {"channel", c.channel},
                     {"account", c.account}, {"flow", c.flow}, {"state", c.state}, {"reason", c.handoff_reason},
                     {"since_ms", since}, {"waiting_seconds", std::max<std::int64_t>(0, now_ms - since) / 1000},
                     {"last_inbound_ms", c.last_inbound_ms}, {"messages_since", messages}, {"last_message", last}});
  });
  std::stable_sort(items.begin(), items.end(), [](const json& a, const json& b) {
    return a["since_ms"].get<std::int64_t>() < b["since_ms"].get<std::int64_t>();
  });
  json out{{"handoffs", items}, {"count", items.size()}};
  return out;
}

std::size_t count_handoffs(const store::ReadTxn& txn) {
  std::size_t n = 0;
  each_paused_conversation(txn, [&](const Conversation&) { ++n; });
  return n;
}

}  // namespace charla::runtime
