#include "whatsapp/protocol/outbound_choice.hpp"

namespace charla::whatsapp {

std::optional<Choice> read_choice(const nlohmann::json& value) {
  if (value.is_string()) {
    Choice c;
    c.title = value.get<std::string>();
    c.id = c.title;
    return c;
  }
  if (!value.is_object()) return std::nullopt;
  Choice c;
  const auto title = value.find("title");
  if (title == value.end() || !title->is_string()) return std::nullopt;
  c.title = title->get<std::string>();
  const auto id = value.find("id");
  if (id == value.end() || id->is_null()) {
    c.id = c.title;
  } else if (id->is_string()) {
    c.id = id->get<std::string>();
  } else {
    return std::nullopt;
  }
  const auto description = value.find("description");
  if (description != value.end() && !description->is_null()) {
    if (!description->is_string()) return std::nullopt;
    c.description = description->get<std::string>();
  }
  return c;
}

}  // namespace charla::whatsapp
