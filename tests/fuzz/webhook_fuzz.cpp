// Arbitrary bytes as a webhook POST: the signature check and the parser must never
// crash, hang or leak, and what the parser returns must keep its invariants.
#include "whatsapp/protocol/signature.hpp"
#include "whatsapp/protocol/webhook_parser.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view kSecret = "fuzz-app-secret";

void require(bool condition) {
  if (!condition) std::abort();  // a broken invariant is a finding
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace charla::whatsapp;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // The input as body with a forged header, as a header, and split into both.
  (void)verify_signature(input, "sha256=" + std::string(64, '0'), kSecret);
  (void)verify_signature(input, input, kSecret);
  if (size > 71) (void)verify_signature(input.substr(71), input.substr(0, 71), kSecret);
  require(verify_signature(input, sign(input, kSecret), kSecret));

  const WebhookParseResult result = parse_webhook(input);
  if (!result.ok) {
    require(!result.error.empty());
    return 0;
  }
  for (const auto& m : result.batch.messages) {
    require(!m.id.empty() && !m.user.empty() && !m.type.empty() && !m.phone_number_id.empty());
    require(m.msg.is_object() && m.msg.contains("raw"));
    (void)conversation_key(m.phone_number_id, m.user);
    (void)m.msg.dump();  // throws (and so aborts) if any string were not valid UTF-8
  }
  for (const auto& s : result.batch.statuses) {
    require(!s.wamid.empty() && !s.status.empty());
    (void)s.errors.dump();
  }
  for (const auto& e : result.batch.errors) (void)e.error.dump();
  require(result.batch.warnings.size() <= 101);
  return 0;
}
