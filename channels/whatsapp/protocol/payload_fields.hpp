#pragma once
// Reading fields of webhook payloads whose JSON types cannot be trusted. Every
// accessor answers "absent" for a wrong type instead of throwing, which is what lets
// the parser skip one bad item and keep the rest.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace charla::whatsapp::payload {

// The member `key` of `object`, or nullptr if `object` is not an object or lacks it.
const nlohmann::json* member(const nlohmann::json& object, std::string_view key);

// An identifier-like field: strings as they are; integers as decimal text (Meta sends
// ids and timestamps as strings, but a number is unambiguous enough to accept).
// nullopt for anything else or an empty string.
std::optional<std::string> id_field(const nlohmann::json& object, std::string_view key);

// A free-text field: only strings; nullopt otherwise.
std::optional<std::string> text_field(const nlohmann::json& object, std::string_view key);

// Unix seconds from "1793000000" or 1793000000; nullopt if absent or not a plain
// non-negative integer.
std::optional<std::int64_t> unix_seconds(const nlohmann::json& object, std::string_view key);

}  // namespace charla::whatsapp::payload
