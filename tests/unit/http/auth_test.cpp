// Bearer tokens: exact match only, whatever the length of what was sent.
#include "http/auth.hpp"

#include <catch2/catch.hpp>

using charla::http::bearer_matches;

TEST_CASE("bearer_matches: only the exact header matches", "[http][auth]") {
  CHECK(bearer_matches("Bearer admin-token", "admin-token"));
  CHECK_FALSE(bearer_matches("Bearer admin-toke", "admin-token"));       // shorter
  CHECK_FALSE(bearer_matches("Bearer admin-token2", "admin-token"));     // longer
  CHECK_FALSE(bearer_matches("Bearer admin-tokfn", "admin-token"));     // same length
  CHECK_FALSE(bearer_matches("bearer admin-token", "admin-token"));
  CHECK_FALSE(bearer_matches("admin-token", "admin-token"));
  CHECK_FALSE(bearer_matches("", "admin-token"));
  CHECK_FALSE(bearer_matches("Bearer ", ""));  // no token configured: nothing matches
  CHECK_FALSE(bearer_matches("", ""));
}
