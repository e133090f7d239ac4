#pragma once
// JSON parsing with a nesting limit for untrusted webhook bodies.
//
// nlohmann parses iteratively, but copying and dumping a value recurse, and so does
// every consumer downstream (the Lua table conversion, the store). A signed body of a
// few MB of "[[[[..." would blow the stack there. Containers nested deeper than the
// limit are kept but left empty, and the caller is told so it can log a warning;
// Meta's real payloads nest about a dozen levels.
//
// (nlohmann's own callback parser is not used for this: in 3.11 it rescans the parent
// container each time a child object closes, which is quadratic on large arrays.)
#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace charla::whatsapp {

inline constexpr std::size_t kMaxJsonDepth = 64;

struct BoundedJson {
  nlohmann::json value;
  bool truncated = false;  // something nested deeper than the limit was dropped
};

// nullopt when `text` is not one complete JSON value; `error` (if given) then says
// why, with the byte position. `max_depth` counts open containers (root = 1).
std::optional<BoundedJson> parse_bounded_json(std::string_view text,
                                              std::size_t max_depth = kMaxJsonDepth,
                                              std::string* error = nullptr);

}  // namespace charla::whatsapp
