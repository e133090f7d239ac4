#pragma once
// UTF-8 measurement for WhatsApp's limits. Meta counts characters, not bytes, so a
// 20-emoji button title is fine while 21 ASCII letters are not. Code points are the
// unit here (a flag or a ZWJ family emoji counts as several, as it does for Meta's
// server-side checks as far as we know).
#include <cstddef>
#include <string_view>

namespace charla::whatsapp::utf8 {

// Strictly valid UTF-8: no overlongs, no surrogates, nothing above U+10FFFF.
bool is_valid(std::string_view s);

// Number of code points; for invalid input, the number of non-continuation bytes,
// so the count never exceeds the byte length.
std::size_t length(std::string_view s);

// Byte offset just after the first `n` code points of `s` (s.size() if it has fewer).
// Always a code point boundary.
std::size_t offset_of(std::string_view s, std::size_t n);

}  // namespace charla::whatsapp::utf8
