#include "whatsapp/token_vault.hpp"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>
#include <stdexcept>

namespace charla::whatsapp {

namespace {

using nlohmann::json;
constexpr int kNonceBytes = 12;  // the GCM standard nonce
constexpr int kTagBytes = 16;

std::string to_hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::optional<std::string> from_hex(const std::string& hex) {
  if (hex.size() % 2) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi << 4 | lo);
  }
  return out;
}

using Cipher = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

const unsigned char* bytes(const std::string& s) { return reinterpret_cast<const unsigned char*>(s.data()); }
unsigned char* bytes(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

}  // namespace

TokenVault::TokenVault(const std::string& key_hex) {
  if (auto key = from_hex(key_hex); key && key->size() == 32) key_ = *key;
}

std::string TokenVault::meta_key(const std::string& phone_number_id) { return "whatsapp/token/" + phone_number_id; }

std::string TokenVault::seal(const std::string& phone_number_id, const std::string& token) const {
  if (!enabled()) throw std::logic_error("TokenVault::seal without a key");
  std::string nonce(kNonceBytes, '\0'), tag(kTagBytes, '\0'), out(token.size() + 16, '\0');
  if (RAND_bytes(bytes(nonce), kNonceBytes) != 1) throw std::runtime_error("no randomness for the token nonce");
  Cipher ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0, total = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, bytes(key_), bytes(nonce)) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, bytes(phone_number_id), static_cast<int>(phone_number_id.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), bytes(out), &len, bytes(token), static_cast<int>(token.size())) != 1)
    throw std::runtime_error("AES-256-GCM encryption failed");
  total = len;
  if (EVP_EncryptFinal_ex(ctx.get(), bytes(out) + total, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, tag.data()) != 1)
    throw std::runtime_error("AES-256-GCM encryption failed");
  out.resize(static_cast<std::size_t>(total + len));
  return json{{"v", 1}, {"nonce", to_hex(nonce)}, {"ciphertext", to_hex(out)}, {"tag", to_hex(tag)}}.dump();
}

std::optional<std::string> TokenVault::open(const std::string& phone_number_id, const std::string& sealed) const {
  if (!enabled()) return std::nullopt;
  auto doc = json::parse(sealed, nullptr, false);
  if (!doc.is_object() || doc.value("v", 0) != 1) return std::nullopt;
  auto field = [&](const char* k) {
    auto it = doc.find(k);
    return it != doc.end() && it->is_string() ? from_hex(it->get<std::string>()) : std::nullopt;
  };
  auto nonce = field("nonce"), ciphertext = field("ciphertext"), tag = field("tag");
  if (!nonce || !ciphertext || !tag || nonce->size() != kNonceBytes || tag->size() != kTagBytes) return std::nullopt;
  std::string out(ciphertext->size() + 16, '\0');
  Cipher ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, bytes(key_), bytes(*nonce)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, bytes(phone_number_id), static_cast<int>(phone_number_id.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), bytes(out), &len, bytes(*ciphertext), static_cast<int>(ciphertext->size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag->data()) != 1)
    return std::nullopt;
  int total = len;
  if (EVP_DecryptFinal_ex(ctx.get(), bytes(out) + total, &len) != 1) return std::nullopt;  // wrong key or tampered
  out.resize(static_cast<std::size_t>(total + len));
  return out;
}

}  // namespace charla::whatsapp
