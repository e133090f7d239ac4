#include "whatsapp/protocol/graph_errors.hpp"

#include "whatsapp/protocol/bounded_json.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <random>

namespace charla::whatsapp {
namespace {

using json = nlohmann::json;

constexpr int kMaxRetryAfterS = 24 * 60 * 60;

// error.code -> action, per shared/whatsapp/README.md §4.1. Codes not listed fall
// back to the HTTP status and is_transient.
std::optional<SendAction> action_for_code(long long code) {
  switch (code) {
    case 1:       // API unknown
    case 2:       // API service
    case 4:       // app call rate limit
    case 17:      // user call rate limit
    case 32:      // page call rate limit
    case 613:     // calls per hour exceeded
    case 80007:   // WABA rate limit
    case 130429:  // number throughput cap
    case 131000:  // something went wrong
    case 131001:
    case 131002:
    case 131016:  // service unavailable
    case 131053:  // media upload failed: often a transiently unreachable link; attempts are bounded
      return SendAction::retry;
    case 131056:
      return SendAction::retry_pair_rate;
    case 131047:
      return SendAction::window_closed;
    case 190:     // access token expired or invalid
    case 368:     // temporarily blocked for policy violations
    case 131031:  // business account locked
      return SendAction::pause_token;
    case 100:     // invalid parameter: a bug in the request
    case 131026:  // undeliverable recipient
    case 131048:  // spam rate limit: retrying makes it worse
    case 131049:  // per-user marketing limit: days, not seconds
    case 131051:  // unsupported message type
    case 132000:  // template parameter count mismatch
    case 132001:  // template does not exist
      return SendAction::fail;
    default:
      return std::nullopt;
  }
}

SendAction action_for_status(int http_status) {
  if (http_status == 401) return SendAction::pause_token;
  if (http_status == 408 || http_status == 429 || http_status >= 500) return SendAction::retry;
  return SendAction::fail;
}

std::optional<long long> integer_member(const json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end()) return std::nullopt;
  if (it->is_number_integer()) return it->get<long long>();
  if (it->is_string()) {  // seen from proxies that re-encode Graph errors
    const auto& s = it->get_ref<const std::string&>();
    long long v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && end == s.data() + s.size()) return v;
  }
  return std::nullopt;
}

std::string string_member(const json& object, const char* key) {
  const auto it = object.find(key);
  return (it != object.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

void classify_graph_error(const json& error, int http_status, SendOutcome& out) {
  out.error_code = integer_member(error, "code");
  out.error_subcode = integer_member(error, "error_subcode");
  out.error_message = string_member(error, "message");
  if (const auto data = error.find("error_data"); data != error.end() && data->is_object()) {
    out.error_details = string_member(*data, "details");
  }
  if (out.error_code) {
    if (auto action = action_for_code(*out.error_code)) {
      out.action = *action;
      return;
    }
  }
  const auto transient = error.find("is_transient");
  if (transient != error.end() && transient->is_boolean() && transient->get<bool>()) {
    out.action = SendAction::retry;
    return;
  }
  out.action = (http_status >= 200 && http_status < 300) ? SendAction::fail : action_for_status(http_status);
}

std::string wamid_of(const json& body) {
  const auto messages = body.find("messages");
  if (messages == body.end() || !messages->is_array() || messages->empty()) return {};
  const json& first = messages->front();
  return first.is_object() ? string_member(first, "id") : std::string();
}

std::mt19937_64& jitter_engine() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return engine;
}

}  // namespace

std::string_view to_string(SendAction action) {
  switch (action) {
    case SendAction::accepted: return "accepted";
    case SendAction::retry: return "retry";
    case SendAction::retry_pair_rate: return "retry_pair_rate";
    case SendAction::window_closed: return "window_closed";
    case SendAction::pause_token: return "pause_token";
    case SendAction::fail: return "fail";
  }
  return "fail";
}

std::optional<int> parse_retry_after(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty() || value.front() == '-' || value.front() == '+') return std::nullopt;
  long long seconds = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec == std::errc::result_out_of_range) return kMaxRetryAfterS;  // absurdly long: a day
  if (ec != std::errc() || end != value.data() + value.size()) return std::nullopt;
  return static_cast<int>(std::min<long long>(seconds, kMaxRetryAfterS));
}

SendOutcome classify_send_response(int http_status, std::string_view body,
                                   std::optional<std::string_view> retry_after) {
  SendOutcome out;
  if (retry_after) out.retry_after_s = parse_retry_after(*retry_after);

  if (http_status <= 0) {
    // The request may or may not have reached Meta; the outbox accepts the small
    // chance of a duplicate over losing the message.
    out.action = SendAction::retry;
    out.error_message = "no HTTP response (connection failure or timeout)";
    return out;
  }

  auto parsed = parse_bounded_json(body, 16);
  const bool is_json_object = parsed && parsed->value.is_object();
  const bool success = http_status >= 200 && http_status < 300;

  if (is_json_object) {
    const json& doc = parsed->value;
    if (const auto error = doc.find("error"); error != doc.end() && error->is_object()) {
      classify_graph_error(*error, http_status, out);
      return out;
    }
    if (success) {
      out.action = SendAction::accepted;
      out.wamid = wamid_of(doc);
      return out;
    }
    out.action = action_for_status(http_status);
    out.error_message = "HTTP " + std::to_string(http_status) + " without a Graph error object";
    return out;
  }

  if (success) {
    // Meta said 200; sending again would likely duplicate the message. Without a
    // wamid the delivery statuses for it cannot be correlated, which is logged upstream.
    out.action = SendAction::accepted;
    return out;
  }
  // HTML error pages from Meta's edge or a proxy: not a Graph error, so transient
  // unless the status says the credentials are wrong.
  out.action = http_status == 401 ? SendAction::pause_token : SendAction::retry;
  out.error_message = "HTTP " + std::to_string(http_status) + " with a non-JSON body";
  return out;
}

std::chrono::milliseconds backoff(int attempt, std::optional<int> retry_after_s, SendAction action,
                                  double unit) {
  using std::chrono::milliseconds;
  attempt = std::max(attempt, 0);
  milliseconds delay{0};
  if (action == SendAction::retry) {
    // 2^9 s already exceeds the cap; clamping the exponent avoids overflow.
    const long long ceiling = std::min<long long>(kBackoffBase.count() << std::min(attempt, 9), kBackoffCap.count());
    if (!(unit >= 0.0)) unit = 0.0;  // also catches NaN
    unit = std::min(unit, 1.0);
    delay = milliseconds{static_cast<long long>(std::llround(unit * static_cast<double>(ceiling)))};
  } else if (action == SendAction::retry_pair_rate) {
    const long long seconds = 1LL << (2 * std::min(attempt, 5));  // 4^attempt, 4^5 s > cap
    delay = std::min(milliseconds{seconds * 1000}, kBackoffCap);
  } else {
    return milliseconds{0};
  }
  if (retry_after_s && *retry_after_s > 0) {
    delay = std::max(delay, milliseconds{static_cast<long long>(std::min(*retry_after_s, kMaxRetryAfterS)) * 1000});
  }
  return delay;
}

std::chrono::milliseconds backoff(int attempt, std::optional<int> retry_after_s, SendAction action) {
  std::uniform_real_distribution<double> draw(0.0, 1.0);
  return backoff(attempt, retry_after_s, action, draw(jitter_engine()));
}

}  // namespace charla::whatsapp
