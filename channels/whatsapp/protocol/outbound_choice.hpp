#pragma once
// How a reply button or list row is read from a channel-neutral message. Shared by
// validation and building so both interpret "title" vs {"id","title"} identically.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace charla::whatsapp {

struct Choice {
  std::string id;
  std::string title;
  std::optional<std::string> description;
};

// A string is both id and title; an object gives id (defaulting to its title), title
// and description. nullopt when the JSON types are wrong (not a string/object, or a
// field that is not a string); emptiness and lengths are validate()'s business.
std::optional<Choice> read_choice(const nlohmann::json& value);

}  // namespace charla::whatsapp
