// X-Charla-Signature is the hex HMAC-SHA256 of the exact body with the webhook's
// secret, as a receiver recomputes it (RFC 4231 test case 2).
#include "events/event_sender.hpp"

#include <catch2/catch.hpp>

TEST_CASE("the signature header is sha256=<hex HMAC-SHA256 of the body>", "[events]") {
  CHECK(charla::events::signature_header("Jefe", "what do ya want for nothing?") ==
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(charla::events::signature_header("k", "{\"a\":1}") != charla::events::signature_header("k", "{\"a\":2}"));
}
