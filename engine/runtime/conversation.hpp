#pragma once
// The persisted record of one conversation (`conv` db) and the key layouts of the
// databases the runtime writes. History and timer keys start with fixed-width parts
// so LMDB's byte order is the order charla needs (per-conversation history in seq
// order; timers in due-time order).
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace charla::runtime {

struct Conversation {
  std::string key;
  std::string channel, account, user, name;
  std::string flow;
  std::int64_t flow_version = 0;
  std::string state;                            // empty: not started yet
  nlohmann::json data = nlohmann::json::object();
  bool paused = false;                          // a human agent took over (handoff)
  std::string handoff_reason;
  std::int64_t paused_ms = 0;                   // when the handoff began (0: not paused, or an older record)
  // Timers that came due while paused: held here (name -> {"due_ms", "payload"}), their
  // rows consumed, and put back as rows by resume so they fire right after it.
  std::map<std::string, nlohmann::json> held_timers;
  std::int64_t last_inbound_ms = 0;             // the 24 h customer-service window
  std::int64_t created_ms = 0, updated_ms = 0;
  std::map<std::string, std::int64_t> timers;   // timer name -> due ms (mirrors `timers` rows)
  std::uint64_t history_first = 1, history_next = 1;  // live history seq range [first, next)
  std::uint64_t turns = 0, errors = 0;

  nlohmann::json to_json() const;
  // to_json().dump(), written without building the JSON tree (each turn writes one).
  std::string dump() const;
  static Conversation from_json(std::string key, const nlohmann::json& j);
};

std::string history_key(std::string_view conversation, std::uint64_t seq);
std::string history_prefix(std::string_view conversation);

std::string timer_key(std::int64_t due_ms, std::string_view conversation, std::string_view name);
struct TimerKey {
  std::int64_t due_ms;
  std::string conversation;
  std::string name;
};
bool parse_timer_key(std::string_view key, TimerKey& out);

}  // namespace charla::runtime
