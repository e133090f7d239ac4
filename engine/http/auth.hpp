#pragma once
// Bearer-token checks for the admin API and /metrics.
#include <string_view>

namespace charla::http {

// True if `authorization` (the header's value) is exactly "Bearer <token>". Compares
// SHA-256 digests with CRYPTO_memcmp, so the time taken says nothing about the token:
// neither its length nor how many leading bytes matched. An empty token never matches.
bool bearer_matches(std::string_view authorization, std::string_view token);

}  // namespace charla::http
