// validate(): WhatsApp's limits for outbound messages, as sentences a flow designer
// can act on. Lengths are counted in code points, as Meta counts them.
#include "whatsapp/protocol/message_builder.hpp"
#include "whatsapp/protocol/outbound_choice.hpp"
#include "whatsapp/protocol/utf8.hpp"

#include <set>
#include <vector>
#include <string_view>

namespace charla::whatsapp {
namespace {

using json = nlohmann::json;
using Error = std::optional<std::string>;

// Short fields are quoted in errors so the designer can find them; bodies are not.
constexpr std::size_t kQuoteUpTo = 80;

const json* field(const json& message, std::string_view key) {
  const auto it = message.find(key);
  return (it == message.end() || it->is_null()) ? nullptr : &*it;
}

Error check_string(std::string_view what, const std::string& value, std::size_t max, bool allow_empty) {
  if (!utf8::is_valid(value)) return std::string(what) + " is not valid UTF-8";
  if (value.empty() && !allow_empty) return std::string(what) + " must not be empty";
  const std::size_t n = utf8::length(value);
  if (n > max) {
    std::string out(what);
    if (max <= kQuoteUpTo) out += " \"" + value + "\"";
    out += " has " + std::to_string(n) + " characters; WhatsApp allows at most " + std::to_string(max);
    return out;
  }
  return std::nullopt;
}

// A string member: required ones must be present and non-empty.
Error check_member(const json& message, std::string_view key, std::string_view what, std::size_t max,
                   bool required) {
  const json* v = field(message, key);
  if (v == nullptr) {
    if (required) return std::string(what) + " is required";
    return std::nullopt;
  }
  if (!v->is_string()) return std::string(what) + " must be a string";
  return check_string(what, v->get_ref<const std::string&>(), max, !required);
}

bool is_http_url(const std::string& url) {
  auto starts_with_nocase = [&](std::string_view prefix) {
    if (url.size() <= prefix.size()) return false;  // a scheme alone is not a URL
    for (std::size_t i = 0; i < prefix.size(); ++i) {
      char c = url[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != prefix[i]) return false;
    }
    return true;
  };
  return starts_with_nocase("https://") || starts_with_nocase("http://");
}

Error check_url(const json& message, std::string_view key, std::string_view what) {
  if (auto e = check_member(message, key, what, 2000, true)) return e;
  if (!is_http_url(field(message, key)->get_ref<const std::string&>())) {
    return std::string(what) + " must be an http:// or https:// URL";
  }
  return std::nullopt;
}

Error validate_text(const json& m) {
  // No length limit here: build_requests splits long texts into several messages.
  if (auto e = check_member(m, "text", "text", SIZE_MAX, true)) return e;
  const auto& text = field(m, "text")->get_ref<const std::string&>();
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) return "text must not be blank";
  return std::nullopt;
}

// Every string anywhere in `value` is valid UTF-8 (free-form template components
// are passed to Meta as given; an invalid byte would only fail later, at send time).
bool all_strings_valid(const json& value) {
  std::vector<const json*> pending = {&value};  // explicit stack: depth is not ours to bound
  while (!pending.empty()) {
    const json* v = pending.back();
    pending.pop_back();
    if (v->is_string()) {
      if (!utf8::is_valid(v->get_ref<const std::string&>())) return false;
    } else if (v->is_object()) {
      for (auto it = v->begin(); it != v->end(); ++it) {
        if (!utf8::is_valid(it.key())) return false;
        pending.push_back(&it.value());
      }
    } else if (v->is_array()) {
      for (const auto& element : *v) pending.push_back(&element);
    }
  }
  return true;
}

Error validate_buttons(const json& m) {
  if (auto e = check_member(m, "text", "buttons text", limits::kInteractiveBody, true)) return e;
  if (auto e = check_member(m, "header", "buttons header", limits::kHeaderText, false)) return e;
  const json* buttons = field(m, "buttons");
  if (buttons == nullptr || !buttons->is_array()) return "buttons must be a list of buttons";
  if (buttons->empty()) return "buttons needs at least 1 button";
  if (buttons->size() > limits::kMaxButtons) {
    return "WhatsApp allows at most 3 reply buttons; got " + std::to_string(buttons->size()) +
           " (use a list for more options)";
  }
  std::set<std::string> ids;
  std::set<std::string> titles;
  for (std::size_t i = 0; i < buttons->size(); ++i) {
    const std::string what = "button " + std::to_string(i + 1);
    const auto choice = read_choice((*buttons)[i]);
    if (!choice) return what + " must be a title or {id, title} with string values";
    if (auto e = check_string(what + " title", choice->title, limits::kButtonTitle, false)) return e;
    if (auto e = check_string(what + " id", choice->id, limits::kButtonId, false)) return e;
    if (!ids.insert(choice->id).second) return what + " repeats the id \"" + choice->id + "\"; ids must be unique";
    if (!titles.insert(choice->title).second) {
      return what + " repeats the title \"" + choice->title + "\"; titles must be unique";
    }
  }
  return std::nullopt;
}

Error validate_list(const json& m) {
  if (auto e = check_member(m, "text", "list text", limits::kListBody, true)) return e;
  if (auto e = check_member(m, "button", "list button label", limits::kListButtonLabel, true)) return e;
  if (auto e = check_member(m, "header", "list header", limits::kHeaderText, false)) return e;
  const json* sections = field(m, "sections");
  if (sections == nullptr || !sections->is_array()) return "list sections must be a list of sections";
  if (sections->empty()) return "list needs at least 1 section";
  if (sections->size() > limits::kMaxListSections) {
    return "WhatsApp allows at most 10 list sections; got " + std::to_string(sections->size());
  }
  std::size_t rows_total = 0;
  std::set<std::string> ids;
  for (std::size_t s = 0; s < sections->size(); ++s) {
    const json& section = (*sections)[s];
    const std::string what = "list section " + std::to_string(s + 1);
    if (!section.is_object()) return what + " must be an object with rows";
    // Meta requires a title as soon as there is more than one section.
    if (auto e = check_member(section, "title", what + " title", limits::kSectionTitle, sections->size() > 1)) {
      return e;
    }
    const json* rows = field(section, "rows");
    if (rows == nullptr || !rows->is_array() || rows->empty()) return what + " needs at least 1 row";
    for (std::size_t r = 0; r < rows->size(); ++r) {
      const std::string row_what = what + " row " + std::to_string(r + 1);
      if (++rows_total > limits::kMaxListRows) {
        return "WhatsApp allows at most 10 list rows in total; this list has more";
      }
      const auto choice = read_choice((*rows)[r]);
      if (!choice) return row_what + " must be a title or {id, title, description} with string values";
      if (auto e = check_string(row_what + " title", choice->title, limits::kRowTitle, false)) return e;
      if (auto e = check_string(row_what + " id", choice->id, limits::kRowId, false)) return e;
      if (choice->description) {
        if (auto e = check_string(row_what + " description", *choice->description, limits::kRowDescription, true)) {
          return e;
        }
      }
      if (!ids.insert(choice->id).second) return row_what + " repeats the id \"" + choice->id + "\"; ids must be unique";
    }
  }
  return std::nullopt;
}

Error validate_template(const json& m) {
  if (auto e = check_member(m, "name", "template name", 512, true)) return e;
  const json* language = field(m, "language");
  if (language == nullptr) return "template language is required (e.g. \"es_MX\")";
  if (language->is_object()) {
    if (auto e = check_member(*language, "code", "template language code", 32, true)) return e;
  } else if (language->is_string()) {
    if (auto e = check_string("template language", language->get_ref<const std::string&>(), 32, false)) return e;
  } else {
    return "template language must be a string such as \"es_MX\"";
  }
  const json* parameters = field(m, "parameters");
  const json* components = field(m, "components");
  if (parameters != nullptr && components != nullptr) {
    return "template takes either parameters or components, not both";
  }
  if (parameters != nullptr) {
    if (!parameters->is_array()) return "template parameters must be a list of strings";
    for (std::size_t i = 0; i < parameters->size(); ++i) {
      const json& p = (*parameters)[i];
      const std::string what = "template parameter " + std::to_string(i + 1);
      if (p.is_number()) continue;
      if (!p.is_string()) return what + " must be a string or a number";
      if (auto e = check_string(what, p.get_ref<const std::string&>(), SIZE_MAX, false)) return e;
    }
  }
  if (components != nullptr) {
    if (!components->is_array()) return "template components must be a list of objects";
    for (const auto& c : *components) {
      if (!c.is_object()) return "template components must be a list of objects";
    }
    if (!all_strings_valid(*components)) return "template components contain text that is not valid UTF-8";
  }
  return std::nullopt;
}

Error validate_media(const json& m, const std::string& type) {
  const json* link = field(m, "link");
  const json* id = field(m, "id");
  if ((link == nullptr) == (id == nullptr)) return type + " needs exactly one of link or id";
  if (link != nullptr) {
    if (auto e = check_url(m, "link", type + " link")) return e;
  } else if (auto e = check_member(m, "id", type + " id", 256, true)) {
    return e;
  }
  const bool takes_caption = type == "image" || type == "video" || type == "document";
  if (field(m, "caption") != nullptr && !takes_caption) return type + " messages cannot have a caption";
  if (auto e = check_member(m, "caption", type + " caption", limits::kCaption, false)) return e;
  if (field(m, "filename") != nullptr && type != "document") return "only documents can have a filename";
  return check_member(m, "filename", "document filename", 240, false);
}

Error validate_reaction(const json& m) {
  if (auto e = check_member(m, "message_id", "reaction message_id", 512, true)) return e;
  return check_member(m, "emoji", "reaction emoji", 16, false);
}

Error validate_mark_read(const json& m) {
  if (auto e = check_member(m, "message_id", "mark_read message_id", 512, true)) return e;
  const json* typing = field(m, "typing");
  if (typing != nullptr && !typing->is_boolean()) return "mark_read typing must be true or false";
  return std::nullopt;
}

Error validate_cta_url(const json& m) {
  if (auto e = check_member(m, "text", "cta_url text", limits::kInteractiveBody, true)) return e;
  if (auto e = check_member(m, "display_text", "cta_url display_text", limits::kCtaDisplayText, true)) return e;
  if (auto e = check_member(m, "header", "cta_url header", limits::kHeaderText, false)) return e;
  return check_url(m, "url", "cta_url url");
}

Error check_coordinate(const json& m, std::string_view key, double bound) {
  const json* v = field(m, key);
  if (v == nullptr || !v->is_number()) return "location " + std::string(key) + " must be a number";
  const double d = v->get<double>();
  if (!(d >= -bound && d <= bound)) {
    return "location " + std::string(key) + " must be between -" + std::to_string(static_cast<int>(bound)) +
           " and " + std::to_string(static_cast<int>(bound));
  }
  return std::nullopt;
}

Error validate_location(const json& m) {
  if (auto e = check_coordinate(m, "latitude", 90)) return e;
  if (auto e = check_coordinate(m, "longitude", 180)) return e;
  if (auto e = check_member(m, "name", "location name", 1000, false)) return e;
  return check_member(m, "address", "location address", 1000, false);
}

Error validate_by_type(const json& m, const std::string& type) {
  if (type == "text") return validate_text(m);
  if (type == "buttons") return validate_buttons(m);
  if (type == "list") return validate_list(m);
  if (type == "template") return validate_template(m);
  if (type == "image" || type == "audio" || type == "video" || type == "document" || type == "sticker") {
    return validate_media(m, type);
  }
  if (type == "reaction") return validate_reaction(m);
  if (type == "mark_read") return validate_mark_read(m);
  if (type == "cta_url") return validate_cta_url(m);
  if (type == "location") return validate_location(m);
  return "unknown outbound message type \"" + type +
         "\" (expected text, buttons, list, template, image, audio, video, document, sticker, reaction, "
         "mark_read, cta_url or location)";
}

}  // namespace

std::optional<std::string> validate(const json& message) {
  if (!message.is_object()) return "an outbound message must be an object";
  const json* type = field(message, "type");
  if (type == nullptr || !type->is_string()) return "an outbound message needs a type";
  const auto& t = type->get_ref<const std::string&>();
  if (!utf8::is_valid(t)) return "outbound message type is not valid UTF-8";
  if (auto e = validate_by_type(message, t)) return e;
  return check_member(message, "reply_to", "reply_to", 512, false);
}

}  // namespace charla::whatsapp
