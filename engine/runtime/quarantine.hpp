#pragma once
// The `quarantine` db: what the engine sets aside instead of running, so that one bad
// row or one message that keeps stopping the process cannot stop every other
// conversation. Nothing in it is lost: an operator lists it, retries or deletes it
// through the admin API.
//
// Rows (key -> JSON value):
//  - "message:<seq, 20 digits>": an inbox entry moved out of `inbox`. `event` holds the
//    stored event when it was readable (retry puts it back under the same seq); an
//    unreadable row keeps its bytes in `raw` (valid UTF-8) or `raw_hex`.
//  - "conversation:<key>": a conversation whose stored record or history cannot be
//    read. Its rows stay where they are; its events wait in the inbox (and on its
//    worker) until the mark is removed by retry or by a reset of the conversation.
// API ids are "message:<seq>" (no padding) and "conversation:<key>".
#include "store/store.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace charla::runtime {

std::string quarantine_message_key(std::uint64_t seq);
std::string quarantine_conversation_key(std::string_view conversation);
// The db key for an API id; nullopt when the id names neither kind.
std::optional<std::string> quarantine_key_for_id(std::string_view id);

// Whether bytes may go into a JSON string as they are (else: hex them).
bool is_valid_utf8(std::string_view bytes);
std::string hex(std::string_view bytes);

// Moves inbox entry `seq` (its stored bytes `raw`) into quarantine, inside `txn`.
void quarantine_inbox_row(store::WriteTxn& txn, std::uint64_t seq, std::string_view raw, const std::string& reason,
                          std::int64_t now_ms);
// Marks a conversation quarantined (keeps the first mark's time), inside `txn`.
void quarantine_conversation(store::WriteTxn& txn, const std::string& conversation, const std::string& reason,
                             std::int64_t now_ms);

// Every row, in key order, as the admin API shows it ("id", "kind", ...); when
// `conversation` is not empty, only the rows of that conversation.
nlohmann::json list_quarantine(const store::ReadTxn& txn, std::string_view conversation = {});

struct QuarantineCounts {
  std::size_t messages = 0, conversations = 0;
};
QuarantineCounts count_quarantine(const store::ReadTxn& txn);

// Reads a non-negative integer field that a foreign or corrupt row may hold with any type.
std::uint64_t uint_field(const nlohmann::json& j, const char* name);

}  // namespace charla::runtime
