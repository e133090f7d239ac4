#pragma once
// Writes one JSON object member by member, in exactly the bytes nlohmann's dump() gives
// for the same object, without building the object first. The records a turn writes
// (conversation, outbox row, inbox row) are serialized on every turn or message; a tree
// of map nodes built only to be dumped and freed was a tenth of a worker's time.
//
// nlohmann keeps object members sorted by key (std::map), so callers add members in that
// order; the record tests compare the output with dump() byte for byte.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace charla::runtime {

class JsonObjectWriter {
 public:
  explicit JsonObjectWriter(std::size_t reserve = 256) {
    out_.reserve(reserve);
    out_.push_back('{');
  }

  JsonObjectWriter& string(std::string_view key, const std::string& value) {
    member(key);
    append_string(out_, value);
    return *this;
  }
  JsonObjectWriter& number(std::string_view key, std::int64_t value) {
    member(key);
    out_.append(std::to_string(value));
    return *this;
  }
  JsonObjectWriter& unsigned_number(std::string_view key, std::uint64_t value) {
    member(key);
    out_.append(std::to_string(value));
    return *this;
  }
  JsonObjectWriter& boolean(std::string_view key, bool value) {
    member(key);
    out_.append(value ? "true" : "false");
    return *this;
  }
  JsonObjectWriter& value(std::string_view key, const nlohmann::json& value) {
    member(key);
    out_.append(value.dump());
    return *this;
  }
  // `json_text` is already JSON (a value dumped elsewhere).
  JsonObjectWriter& raw(std::string_view key, std::string_view json_text) {
    member(key);
    out_.append(json_text);
    return *this;
  }

  std::string finish() && {
    out_.push_back('}');
    return std::move(out_);
  }

  // A string as nlohmann dumps it. Printable ASCII without quotes or backslashes (keys,
  // phone numbers, states) is copied as it is; anything else goes through nlohmann, so
  // escapes and its refusal of invalid UTF-8 stay exactly the same.
  static void append_string(std::string& out, const std::string& value) {
    bool plain = true;
    for (unsigned char c : value) {
      if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') {
        plain = false;
        break;
      }
    }
    if (plain) {
      out.push_back('"');
      out.append(value);
      out.push_back('"');
    } else {
      out.append(nlohmann::json(value).dump());
    }
  }

 private:
  // Keys are the records' own field names: plain identifiers, never escaped.
  void member(std::string_view key) {
    if (out_.size() > 1) out_.push_back(',');
    out_.push_back('"');
    out_.append(key);
    out_.append("\":");
  }

  std::string out_;
};

}  // namespace charla::runtime
