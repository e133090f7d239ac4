#include "runtime/event_log.hpp"

#include <cstdio>
#include <ctime>
#include <random>

namespace charla::runtime {

using nlohmann::json;

namespace {

std::string new_event_id() {
  thread_local std::mt19937_64 rng{[] {
    std::random_device device;
    return (static_cast<std::uint64_t>(device()) << 32) ^ device();
  }()};
  char text[40];
  std::snprintf(text, sizeof text, "evt_%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return text;
}

}  // namespace

bool event_pattern_matches(std::string_view pattern, std::string_view name) {
  // Greedy glob with one backtrack point: linear enough for names of <= 100 bytes.
  std::size_t p = 0, n = 0, star = std::string_view::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (p < pattern.size() && pattern[p] == name[n]) {
      ++p;
      ++n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::string iso8601_utc(std::int64_t ms) {
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[40];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return text;
}

json EventRecord::to_json() const {
  json j{{"id", id},           {"name", name},       {"conversation", conversation}, {"phone", phone},
         {"time_ms", time_ms}, {"payload", payload}, {"webhook", webhook},           {"status", status},
         {"attempts", attempts}, {"next_attempt_ms", next_attempt_ms}};
  if (!last_error.empty()) j["last_error"] = last_error;
  return j;
}

std::optional<EventRecord> EventRecord::from_json(std::uint64_t seq, std::string_view value) {
  const json j = json::parse(value, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  try {
    EventRecord r;
    r.seq = seq;
    r.id = j.at("id").get<std::string>();
    r.name = j.at("name").get<std::string>();
    r.conversation = j.value("conversation", "");
    r.phone = j.value("phone", "");
    r.time_ms = j.value("time_ms", std::int64_t{0});
    r.payload = j.value("payload", json::object());
    r.webhook = j.at("webhook").get<std::string>();
    r.status = j.value("status", "pending");
    r.attempts = j.value("attempts", std::uint32_t{0});
    r.next_attempt_ms = j.value("next_attempt_ms", std::int64_t{0});
    r.last_error = j.value("last_error", "");
    if (r.id.empty() || r.name.empty() || r.webhook.empty()) return std::nullopt;
    return r;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

std::string EventRecord::body() const {
  return json{{"id", id},
              {"name", name},
              {"conversation", conversation},
              {"phone", phone},
              {"time", iso8601_utc(time_ms)},
              {"payload", payload}}
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

EventLog::EventLog(std::vector<EventSubscription> webhooks) : webhooks_(std::move(webhooks)) {}

std::vector<std::string> EventLog::rows(std::string_view name, std::string_view conversation, std::string_view phone,
                                        std::int64_t now_ms, const json& payload) const {
  std::vector<std::string> out;
  if (webhooks_.empty()) return out;
  EventRecord r;
  r.name = std::string(name);
  r.conversation = std::string(conversation);
  r.phone = std::string(phone);
  r.time_ms = now_ms;
  r.payload = payload.is_null() ? json::object() : payload;
  for (const auto& hook : webhooks_) {
    bool wanted = hook.patterns.empty();
    for (const auto& p : hook.patterns) wanted = wanted || event_pattern_matches(p, name);
    if (!wanted) continue;
    if (r.id.empty()) r.id = new_event_id();
    r.webhook = hook.url;
    out.push_back(r.to_json().dump(-1, ' ', false, json::error_handler_t::replace));
  }
  return out;
}

void EventLog::put(store::WriteTxn& txn, const std::vector<std::string>& rows) {
  for (const auto& row : rows) txn.put(store::Db::events, store::be64(txn.next_seq("events")), row);
}

void EventLog::record(store::WriteTxn& txn, std::string_view name, std::string_view conversation,
                      std::string_view phone, std::int64_t now_ms, const json& payload) const {
  put(txn, rows(name, conversation, phone, now_ms, payload));
}

}  // namespace charla::runtime
