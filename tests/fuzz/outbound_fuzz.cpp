// Arbitrary bytes as an outbound message (JSON), as reply text, and as a Graph API
// response: validation, building, splitting and classification must never crash,
// and what they produce must keep its invariants.
#include "whatsapp/protocol/graph_errors.hpp"
#include "whatsapp/protocol/message_builder.hpp"
#include "whatsapp/protocol/utf8.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace charla::whatsapp;
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // Text splitting with a small limit derived from the first byte.
  const std::size_t max_chars = 1 + data[0] % 64;
  const std::string_view text = input.substr(1);
  const bool valid_text = utf8::is_valid(text);
  for (const auto& part : split_text(text, max_chars)) {
    require(!part.empty() && utf8::length(part) <= max_chars);
    if (valid_text) require(utf8::is_valid(part));
  }

  // Graph response classification: status from the first byte, body the rest.
  const int status = 100 + data[0] * 2;
  const auto outcome = classify_send_response(status, text, text.substr(0, 8));
  (void)backoff(data[0] % 40, outcome.retry_after_s, outcome.action);

  // Outbound message building.
  const auto message = nlohmann::json::parse(input, nullptr, /*allow_exceptions=*/false);
  if (message.is_discarded()) return 0;
  const auto error = validate(message);
  const auto requests = build_requests(message, "5215550000001", (data[0] & 1) != 0);
  require(error.has_value() == requests.empty());
  for (const auto& r : requests) (void)r.dump();
  return 0;
}
