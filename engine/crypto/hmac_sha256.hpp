#pragma once
// HMAC-SHA256 over a body, the one signature scheme charla speaks both ways: Meta signs
// webhooks with it (X-Hub-Signature-256) and charla signs its event webhooks with it
// (X-Charla-Signature). Both headers carry "sha256=" + 64 lowercase hex digits.
#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace charla::crypto {

using Sha256Digest = std::array<unsigned char, 32>;

// nullopt only if OpenSSL fails. Empty keys and bodies are valid.
std::optional<Sha256Digest> hmac_sha256(std::string_view data, std::string_view key);

// "sha256=<hex>"; just "sha256=" (which never verifies) if OpenSSL fails.
std::string hmac_sha256_header(std::string_view data, std::string_view key);

}  // namespace charla::crypto
