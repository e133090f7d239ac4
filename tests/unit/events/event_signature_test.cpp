// X-Charla-Signature is the hex HMAC-SHA256 of the exact body with the webhook's
// secret, as a receiver recomputes it (RFC 4231 test case 2). The WhatsApp channel checks
// Meta's X-Hub-Signature-256 with the same function (tests/unit/whatsapp).
#include "crypto/hmac_sha256.hpp"

#include <catch2/catch.hpp>

using charla::crypto::hmac_sha256_header;

TEST_CASE("the signature header is sha256=<hex HMAC-SHA256 of the body>", "[events]") {
  CHECK(hmac_sha256_header("what do ya want for nothing?", "Jefe") ==
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(hmac_sha256_header("{\"a\":1}", "k") != hmac_sha256_header("{\"a\":2}", "k"));
  CHECK(hmac_sha256_header("", "").size() == 7 + 64);  // empty key and body are valid
}
