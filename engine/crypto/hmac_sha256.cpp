#include "crypto/hmac_sha256.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace charla::crypto {

std::optional<Sha256Digest> hmac_sha256(std::string_view data, std::string_view key) {
  // OpenSSL 3 refuses a null key pointer even with length 0, so empty keys and bodies
  // get a valid (unused) pointer.
  static const unsigned char kEmpty[1] = {0};
  const auto* key_ptr = key.empty() ? kEmpty : reinterpret_cast<const unsigned char*>(key.data());
  const auto* data_ptr = data.empty() ? kEmpty : reinterpret_cast<const unsigned char*>(data.data());
  Sha256Digest out{};
  unsigned int out_len = 0;
  if (HMAC(EVP_sha256(), key_ptr, static_cast<int>(key.size()), data_ptr, data.size(), out.data(), &out_len) ==
          nullptr ||
      out_len != out.size())
    return std::nullopt;
  return out;
}

std::string hmac_sha256_header(std::string_view data, std::string_view key) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256=";
  const auto digest = hmac_sha256(data, key);
  if (!digest) return out;
  out.reserve(out.size() + 2 * digest->size());
  for (unsigned char b : *digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0x0f]);
  }
  return out;
}

}  // namespace charla::crypto
