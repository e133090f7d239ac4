#pragma once
// Turns a verified WhatsApp webhook POST body into the events the engine stores.
//
// Meta batches freely (several entry[], changes[], messages[] and statuses[] in one
// body), adds keys without notice and occasionally sends shapes nobody documented.
// The parser therefore:
//  - walks every entry/change/value, never assuming index 0;
//  - keeps unknown message types (with their raw object) instead of rejecting them;
//  - skips only the item that is unusable (no id, no sender, wrong JSON type) and
//    says so in `warnings`, so one odd message never costs the rest of the batch
//    (the HTTP layer still answers 200 and Meta does not redeliver);
//  - fails as a whole only when the body is not JSON (the HTTP layer answers 400).
// It never throws on any input.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace charla::whatsapp {

// One message a user sent to a business number.
struct InboundMessage {
  std::string phone_number_id;  // business number written to (value.metadata)
  // Conversation user: the phone (`from`, else the matching contact's `wa_id`) when
  // known, else the business-scoped user id (`from_user_id`, else contact `user_id`).
  // Never empty.
  std::string user;
  std::string wa_id;         // phone in international digits; empty for username-only users
  std::string user_id;       // business-scoped user id (BSUID); may be empty
  std::string profile_name;  // contacts[].profile.name of the matching contact; may be empty
  std::string id;            // wamid; never empty; the deduplication key
  std::string type;          // as sent ("text", "interactive", ... or an unknown type)
  std::int64_t timestamp = 0;  // Unix seconds (0 if the payload had none)
  // What the Lua flow receives as `msg`: id, type, text, from, name, timestamp, and per
  // type button / list / flow / media / location / reaction / contacts / context /
  // referral / system / order / errors, plus raw (the original message object).
  nlohmann::json msg;
};

// A delivery report for a message the business sent.
struct StatusUpdate {
  std::string phone_number_id;
  std::string wamid;      // the outbound message's id
  std::string status;     // sent, delivered, read, failed, played, or newer values
  std::int64_t timestamp = 0;
  std::string recipient;  // recipient_id, else recipient_user_id (BSUID)
  nlohmann::json errors;  // as given (an array for `failed`), null when absent
};

// An out-of-band problem reported in value.errors[] (not tied to one message).
struct ValueError {
  std::string phone_number_id;  // may be empty if the value had no metadata
  nlohmann::json error;         // the error object as given
};

struct WebhookBatch {
  std::vector<InboundMessage> messages;  // body order (entry, change, position)
  std::vector<StatusUpdate> statuses;    // body order
  std::vector<ValueError> errors;
  std::vector<std::string> ignored;   // `field` of each change the engine does not handle
  std::vector<std::string> warnings;  // "entry[0].changes[1].value.messages[2]: missing id"
};

struct WebhookParseResult {
  bool ok = false;    // false: the body is not JSON; answer 400
  std::string error;  // when !ok: the JSON parser's explanation
  WebhookBatch batch;
};

WebhookParseResult parse_webhook(std::string_view body);

// "whatsapp:<phone_number_id>:<user>"
std::string conversation_key(std::string_view phone_number_id, std::string_view user);

}  // namespace charla::whatsapp
