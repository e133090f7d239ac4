#include "whatsapp/protocol/signature.hpp"

#include "crypto/hmac_sha256.hpp"

#include <openssl/crypto.h>

#include <array>
#include <cstdint>
#include <optional>

namespace charla::whatsapp {
namespace {

constexpr std::string_view kPrefix = "sha256=";
constexpr std::size_t kDigestSize = 32;
using Digest = crypto::Sha256Digest;

int lower_hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // uppercase is refused too: Meta sends lowercase, anything else is not Meta
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<Digest> parse_header(std::string_view header_value) {
  header_value = trim_ows(header_value);
  if (header_value.size() != kPrefix.size() + 2 * kDigestSize) return std::nullopt;
  if (header_value.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  const std::string_view hex = header_value.substr(kPrefix.size());
  Digest out{};
  for (std::size_t i = 0; i < kDigestSize; ++i) {
    const int hi = lower_hex_value(hex[2 * i]);
    const int lo = lower_hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  return out;
}

}  // namespace

bool verify_signature(std::string_view raw_body, std::string_view header_value,
                      std::string_view app_secret) {
  if (app_secret.empty()) return false;
  const auto expected = parse_header(header_value);
  if (!expected) return false;
  const auto actual = crypto::hmac_sha256(raw_body, app_secret);
  if (!actual) return false;
  return CRYPTO_memcmp(expected->data(), actual->data(), kDigestSize) == 0;
}

std::string sign(std::string_view body, std::string_view secret) { return crypto::hmac_sha256_header(body, secret); }

}  // namespace charla::whatsapp
