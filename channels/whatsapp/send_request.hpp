#pragma once
// What an operator (or a system calling charla) asks to send to a customer: the bodies
// of POST /admin/send, /admin/send-interactive and the compatibility routes of the
// systems charla replaces, read into one SendRequest holding a channel-neutral message
// (the shapes of protocol/message_builder.hpp). Pure functions: no store, no engine.
//
// /admin/send           {"to": "+56 9 1234 5678" | "conversation": "whatsapp:<id>:<user>",
//                        "phone_number_id"? (alias "account"), "agent"?,
//                        and exactly one of
//                          "text": "...", "preview_url"?
//                          "template": {"name", "language" ("es"), "parameters"? | "components"?}
//                          "media": {"type": image|audio|video|document|sticker, "link", "caption"?, "filename"?}}
// /admin/send-interactive {"to" | "conversation", "phone_number_id"?, "agent"?, "text" (alias "body"),
//                        "header"? (alias "title"),
//                        "buttons": ["Sí", {"id","title"}, {"type":"reply","reply":{"id","title"}}] (1-3)
//                        | "button": "Ver horarios", "sections": [{"title"?, "rows": [...]}]}
// Every problem is one sentence naming the field (the API answers it with 400).
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <variant>

namespace charla::whatsapp {

struct SendRequest {
  std::string to;                // customer phone, digits only; empty when `conversation` is given
  std::string conversation;      // "whatsapp:<phone_number_id>:<user>"; empty when `to` is given
  std::string account;           // phone_number_id chosen by the caller; empty: charla picks
  // `account` came from a field that may hold another kind of id (the integrations
  // route's business_account_id): used when it is a configured number, else ignored.
  bool account_is_hint = false;
  nlohmann::json message;        // channel-neutral message
  std::string agent = "admin";   // who sent it, kept in the history
  std::string idempotency_key;   // from the Idempotency-Key header; empty: none

  // Free-form content needs an open 24 h customer-service window; templates do not.
  bool needs_window() const { return message.value("type", "") != "template"; }
};

using ParsedSend = std::variant<SendRequest, std::string>;  // the request, or why it is refused

ParsedSend parse_admin_send(const nlohmann::json& body);
ParsedSend parse_admin_send_interactive(const nlohmann::json& body);

// Compatibility bodies:
//   POST /whatsapp/send {"phone_number", "message", "message_type": "text" (default) | "template"}
//     (a template is named by "template_name", else by "message"; "language" defaults to "es")
//   POST /whatsapp/send-interactive {"phone_number", "title"?, "body", "buttons": [{"type":"reply","reply":{"id","title"}}]}
//   POST /api/integrations/whatsapp/send {"phone_number", "message", "business_account_id"?}
ParsedSend parse_compat_send(const nlohmann::json& body);
ParsedSend parse_compat_send_interactive(const nlohmann::json& body);
ParsedSend parse_integrations_send(const nlohmann::json& body);

// "+56 9 1234-5678" -> "56912345678"; nullopt when it is not 6 to 15 digits.
std::optional<std::string> normalize_phone(const std::string& given);

}  // namespace charla::whatsapp
