#pragma once
// Webhook authenticity: Meta signs every POST body with HMAC-SHA256 keyed by the
// app secret and sends `X-Hub-Signature-256: sha256=<64 lowercase hex>`.
//
// The check must run over the exact bytes received, before any JSON parsing:
// re-serialising changes escapes and whitespace and breaks the signature.
#include <string>
#include <string_view>

namespace charla::whatsapp {

// True only when `header_value` is exactly "sha256=" followed by 64 lowercase hex
// digits (surrounding spaces/tabs tolerated) and equals HMAC-SHA256(app_secret,
// raw_body). The digest comparison is constant-time. An empty app secret never
// verifies, so a misconfigured server cannot accept bodies signed with "".
// The legacy `sha1=` header of X-Hub-Signature is not accepted.
bool verify_signature(std::string_view raw_body, std::string_view header_value,
                      std::string_view app_secret);

// The header value Meta would send for `body`: "sha256=<lowercase hex>". Used by
// tests, benchmarks and fake Meta servers.
std::string sign(std::string_view body, std::string_view secret);

}  // namespace charla::whatsapp
