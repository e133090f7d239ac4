#pragma once
// What the outbox does after a Graph API send: classify the response of
// `POST /{phone-number-id}/messages` (or mark-as-read) into one action, and compute
// how long to wait before the next attempt.
//
// Decisions follow error.code, not the HTTP status or the message text, because Meta
// returns most WhatsApp errors as HTTP 400 (shared/whatsapp/README.md §4.1). The
// status only decides when there is no usable code: no response, a non-JSON body
// (proxies and 5xx pages are HTML), or a JSON body without "error".
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace charla::whatsapp {

enum class SendAction {
  accepted,         // Meta took the message (wamid set when the response carries one)
  retry,            // transient: back off and send again (honour retry_after_s)
  retry_pair_rate,  // 131056: too many messages to this user; delay only this recipient, 4^n s
  window_closed,    // 131047: 24 h window closed; only a template can reach the user now
  pause_token,      // stop sending for the whole number until an operator acts: 190 /
                    // HTTP 401 (token invalid or expired), 368 (policy block), 131031
                    // (account locked); keep the queue
  fail,             // the request itself is wrong or the user unreachable; do not retry
};

std::string_view to_string(SendAction action);

struct SendOutcome {
  SendAction action = SendAction::fail;
  std::string wamid;  // messages[0].id on success
  std::optional<long long> error_code;     // error.code
  std::optional<long long> error_subcode;  // error.error_subcode (deprecated by Meta; logs only)
  std::string error_message;  // error.message; for non-JSON bodies a short description
  std::string error_details;  // error.error_data.details (what to fix), may be empty
  std::optional<int> retry_after_s;  // parsed Retry-After header (delta-seconds)
};

// http_status 0 (or negative) means no HTTP response at all: connection failure or
// timeout. `retry_after` is the raw Retry-After header value, if any.
SendOutcome classify_send_response(int http_status, std::string_view body,
                                   std::optional<std::string_view> retry_after = std::nullopt);

// Retry-After as delta-seconds ("17"); nullopt for absent, negative, HTTP-date or
// garbage values (Meta does not document the header for this API; dates are not
// worth the parsing risk). Clamped to one day.
std::optional<int> parse_retry_after(std::string_view value);

// Delay before the next attempt. `attempt` counts failures so far, starting at 0.
//  - retry: "full jitter" exponential backoff, uniform in [0, min(5 min, 1 s * 2^attempt)];
//  - retry_pair_rate: 4^attempt s (1, 4, 16, 64, ...), capped at 5 min, no jitter
//    (the pair rate limit is a fixed window per user; jitter buys nothing there);
//  - any other action: 0 (nothing to retry).
// A Retry-After, when present, is the minimum for the retry actions, even above the cap.
std::chrono::milliseconds backoff(int attempt, std::optional<int> retry_after_s, SendAction action);

// Same, with the jitter draw supplied (`unit` in [0, 1]), for deterministic tests.
std::chrono::milliseconds backoff(int attempt, std::optional<int> retry_after_s, SendAction action,
                                  double unit);

inline constexpr std::chrono::milliseconds kBackoffBase{1000};
inline constexpr std::chrono::milliseconds kBackoffCap{5 * 60 * 1000};

}  // namespace charla::whatsapp
