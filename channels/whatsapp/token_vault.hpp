#pragma once
// Graph API tokens replaced through the admin API outlive a restart: they are kept in
// the store's `meta` db, sealed with AES-256-GCM under CHARLA_SECRET_KEY, and loaded at
// start over the token of the environment.
//
// Invariants:
//  - No key, no vault: without CHARLA_SECRET_KEY nothing is sealed (the admin endpoint
//    answers 409), so a token is never written to disk in clear.
//  - The phone_number_id is the additional authenticated data: a sealed token copied to
//    another number's key does not open. A wrong key or a changed byte does not open
//    either (open() returns nullopt; it never throws).
#include <optional>
#include <string>

namespace charla::whatsapp {

class TokenVault {
 public:
  // `key_hex`: 64 hex characters (validated by the config loader), or empty.
  explicit TokenVault(const std::string& key_hex);

  bool enabled() const { return key_.size() == 32; }
  // The meta key under which a number's sealed token lives.
  static std::string meta_key(const std::string& phone_number_id);
  // A JSON text {"v":1,"nonce":hex,"ciphertext":hex,"tag":hex}; requires enabled().
  std::string seal(const std::string& phone_number_id, const std::string& token) const;
  std::optional<std::string> open(const std::string& phone_number_id, const std::string& sealed) const;

 private:
  std::string key_;  // 32 raw bytes, empty when disabled
};

}  // namespace charla::whatsapp
