#pragma once
// From charla's channel-neutral outbound messages (what the Lua ctx: methods produce)
// to WhatsApp Cloud API `POST /{phone-number-id}/messages` request bodies.
//
// Input shapes (JSON objects; unknown keys are ignored):
//   {"type":"text", "text", "preview_url"?}
//   {"type":"buttons", "text", "header"?, "buttons":[{"id","title"} | "title", ...]}
//   {"type":"list", "text", "header"?, "button", "sections":[{"title"?, "rows":[{"id","title","description"?} | "title"]}]}
//   {"type":"template", "name", "language" ("es_MX" or {"code"}), "parameters":[strings] | "components":[...]}
//   {"type":"image"|"audio"|"video"|"document"|"sticker", "link" | "id", "caption"?, "filename"?}
//   {"type":"reaction", "message_id", "emoji"?}          (no/empty emoji removes the reaction)
//   {"type":"mark_read", "message_id", "typing"?}        (typing: also show "typing…")
//   {"type":"cta_url", "text", "display_text", "url"}
//   {"type":"location", "latitude", "longitude", "name"?, "address"?}
// Any of them may carry "reply_to": "<wamid>" to quote a message.
// A button or row given as a plain string uses the string as both id and title;
// an object without "id" uses its title as id.
//
// validate() is the single source of WhatsApp's limits: the Lua host calls it at the
// ctx: call so a flow designer sees the mistake at its line, instead of a 400 from
// Meta minutes later in the outbox.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace charla::whatsapp {

// WhatsApp limits, in characters (Unicode code points). Sources: Meta's messages
// reference and interactive message docs (see shared/whatsapp/README.md §4).
namespace limits {
inline constexpr std::size_t kTextBody = 4096;
inline constexpr std::size_t kInteractiveBody = 1024;  // reply buttons, CTA URL
inline constexpr std::size_t kListBody = 4096;
inline constexpr std::size_t kMaxButtons = 3;
inline constexpr std::size_t kButtonTitle = 20;
inline constexpr std::size_t kButtonId = 256;
inline constexpr std::size_t kListButtonLabel = 20;
inline constexpr std::size_t kMaxListSections = 10;
inline constexpr std::size_t kMaxListRows = 10;  // in total, across sections
inline constexpr std::size_t kSectionTitle = 24;
inline constexpr std::size_t kRowTitle = 24;
inline constexpr std::size_t kRowDescription = 72;
inline constexpr std::size_t kRowId = 200;
inline constexpr std::size_t kCaption = 1024;
inline constexpr std::size_t kCtaDisplayText = 20;
inline constexpr std::size_t kHeaderText = 60;  // interactive text header
}  // namespace limits

// nullopt if `message` can be sent; otherwise one sentence saying what is wrong,
// e.g. `button 2 title "Hablar con un asesor ya" has 23 characters; WhatsApp allows at most 20`.
// Texts longer than 4096 characters are fine for "text" (build_requests splits them).
std::optional<std::string> validate(const nlohmann::json& message);

// Splits `text` into parts of at most `max_chars` code points, in order. Cuts prefer a
// paragraph break ("\n\n"), then a line break, then a sentence end (". ", "? ", "! "),
// then a space, in the second half of the window when possible; otherwise a hard cut
// at a code point boundary (never inside a UTF-8 sequence). The whitespace at a cut
// is dropped. A text that fits is returned unchanged as one part; an empty text gives
// no parts. max_chars 0 is treated as 1.
std::vector<std::string> split_text(std::string_view text, std::size_t max_chars = limits::kTextBody);

// The Graph API request bodies for `message`, in sending order (a long text becomes
// several). `to` is the user's phone, or their business-scoped user id when
// `to_is_bsuid` (sent as "recipient"). mark_read needs no recipient. Returns an empty
// vector when validate() refuses the message or when a recipient is needed and `to`
// is empty — a reply must never go to an empty address.
std::vector<nlohmann::json> build_requests(const nlohmann::json& message, std::string_view to,
                                           bool to_is_bsuid);

}  // namespace charla::whatsapp
