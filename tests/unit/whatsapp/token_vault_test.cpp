// A token replaced through the admin API is kept sealed (AES-256-GCM) in the store:
// it opens with the same key for the same number, and with nothing else.
#include "whatsapp/token_vault.hpp"

#include <catch2/catch.hpp>

using charla::whatsapp::TokenVault;

TEST_CASE("a sealed token opens with the same key for the same number only") {
  TokenVault vault(std::string(64, 'a'));
  REQUIRE(vault.enabled());
  const std::string token = "EAAG-new-token-\xc3\xb1-0123456789";
  auto sealed = vault.seal("111", token);
  CHECK(sealed.find(token) == std::string::npos);        // never in clear
  CHECK(sealed.find("EAAG") == std::string::npos);
  CHECK(vault.open("111", sealed) == token);
  CHECK(vault.seal("111", token) != sealed);             // a fresh nonce each time
  CHECK_FALSE(vault.open("222", sealed));                // moved to another number
  CHECK_FALSE(TokenVault(std::string(64, 'b')).open("111", sealed));  // another key
  auto tampered = sealed;
  auto at = tampered.find("\"ciphertext\":\"") + 14;
  tampered[at] = tampered[at] == '0' ? '1' : '0';
  CHECK_FALSE(vault.open("111", tampered));
  CHECK_FALSE(vault.open("111", "not json"));
  CHECK_FALSE(vault.open("111", R"({"v":1,"nonce":"zz","ciphertext":"","tag":""})"));
  CHECK(vault.open("111", vault.seal("111", "")) == "");
}

TEST_CASE("without a key the vault is disabled and opens nothing") {
  TokenVault none("");
  CHECK_FALSE(none.enabled());
  CHECK_FALSE(none.open("111", TokenVault(std::string(64, 'a')).seal("111", "t")));
  CHECK_THROWS(none.seal("111", "t"));
  CHECK(TokenVault::meta_key("111") == "whatsapp/token/111");
}
