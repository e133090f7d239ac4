#include "runtime/quarantine.hpp"

#include <cstdio>

namespace charla::runtime {

using nlohmann::json;

namespace {

constexpr std::string_view kMessagePrefix = "message:";
constexpr std::string_view kConversationPrefix = "conversation:";

}  // namespace

// Zero-padded so that byte order is seq order in the db.
std::string quarantine_message_key(std::uint64_t seq) {
  char digits[21];
  std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(seq));
  return std::string(kMessagePrefix) + digits;
}

std::string quarantine_conversation_key(std::string_view conversation) {
  return std::string(kConversationPrefix) + std::string(conversation);
}

std::optional<std::string> quarantine_key_for_id(std::string_view id) {
  if (id.starts_with(kConversationPrefix) && id.size() > kConversationPrefix.size()) return std::string(id);
  if (!id.starts_with(kMessagePrefix)) return std::nullopt;
  auto digits = id.substr(kMessagePrefix.size());
  if (digits.empty() || digits.size() > 20) return std::nullopt;
  std::uint64_t seq = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    seq = seq * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return quarantine_message_key(seq);
}

// As strict as nlohmann's dump(): no overlongs, no surrogates, nothing past U+10FFFF.
bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the first continuation byte
    if (c < 0x80) n = 0;
    else if (c >= 0xC2 && c <= 0xDF) n = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else
      return false;
    if (i + n >= s.size() && n > 0) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80) return false;
    }
    i += n + 1;
  }
  return true;
}

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xF]);
  }
  return out;
}

std::uint64_t uint_field(const json& j, const char* name) {
  if (!j.is_object()) return 0;
  auto it = j.find(name);
  if (it == j.end() || !it->is_number_integer()) return 0;
  return it->is_number_unsigned() ? it->get<std::uint64_t>() : static_cast<std::uint64_t>(std::max<std::int64_t>(0, it->get<std::int64_t>()));
}

void quarantine_inbox_row(store::WriteTxn& txn, std::uint64_t seq, std::string_view raw, const std::string& reason,
                          std::int64_t now_ms) {
  json row{{"seq", seq}, {"reason", reason}, {"quarantined_ms", now_ms}};
  auto event = json::parse(raw, nullptr, false);
  if (event.is_object()) {
    row["event"] = event;
    row["attempts"] = uint_field(event, "attempts");
    if (auto it = event.find("conversation"); it != event.end() && it->is_string()) row["conversation"] = *it;
  } else if (is_valid_utf8(raw)) {
    row["raw"] = std::string(raw);
  } else {
    row["raw_hex"] = hex(raw);
  }
  txn.put(store::Db::quarantine, quarantine_message_key(seq), row.dump(-1, ' ', false, json::error_handler_t::replace));
  txn.del(store::Db::inbox, store::be64(seq));
}

void quarantine_conversation(store::WriteTxn& txn, const std::string& conversation, const std::string& reason,
                             std::int64_t now_ms) {
  const auto key = quarantine_conversation_key(conversation);
  if (txn.get(store::Db::quarantine, key)) return;  // already set aside: keep when and why it first was
  json row{{"conversation", conversation}, {"reason", reason}, {"quarantined_ms", now_ms}};
  txn.put(store::Db::quarantine, key, row.dump(-1, ' ', false, json::error_handler_t::replace));
}

json list_quarantine(const store::ReadTxn& txn, std::string_view conversation) {
  json out = json::array();
  txn.scan(store::Db::quarantine, "", [&](std::string_view k, std::string_view v) {
    auto row = json::parse(v, nullptr, false);
    if (!row.is_object()) row = json{{"corrupt", true}};
    const bool is_message = k.starts_with(kMessagePrefix);
    const auto conv = row.value("conversation", std::string(is_message ? "" : k.substr(kConversationPrefix.size())));
    if (!conversation.empty() && conv != conversation) return true;
    row["kind"] = is_message ? "message" : "conversation";
    row["conversation"] = conv;
    if (is_message) {
      row["id"] = std::string(kMessagePrefix) + std::to_string(uint_field(row, "seq"));
      row["retryable"] = row.contains("event");
    } else {
      row["id"] = std::string(k);
      row["retryable"] = true;
    }
    out.push_back(std::move(row));
    return true;
  });
  return out;
}

QuarantineCounts count_quarantine(const store::ReadTxn& txn) {
  QuarantineCounts counts;
  txn.scan(store::Db::quarantine, "", [&](std::string_view k, std::string_view) {
    if (k.starts_with(kMessagePrefix))
      ++counts.messages;
    else
      ++counts.conversations;
    return true;
  });
  return counts;
}

}  // namespace charla::runtime
