// build_requests(): channel-neutral outbound message -> Graph API /messages bodies.
// Assumes nothing: it runs validate() first and builds only what passes.
#include "whatsapp/protocol/message_builder.hpp"

#include "whatsapp/protocol/outbound_choice.hpp"

namespace charla::whatsapp {
namespace {

using json = nlohmann::json;

std::string string_or_empty(const json& m, std::string_view key) {
  const auto it = m.find(key);
  return (it != m.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

// Every send body starts the same way. "recipient" carries a business-scoped user id
// (README §2.4); if both were sent Meta would use "to", so only one is ever set.
json envelope(std::string_view to, bool to_is_bsuid, const json& message) {
  json body = {{"messaging_product", "whatsapp"}, {"recipient_type", "individual"}};
  body[to_is_bsuid ? "recipient" : "to"] = std::string(to);
  if (auto reply_to = string_or_empty(message, "reply_to"); !reply_to.empty()) {
    body["context"] = {{"message_id", reply_to}};
  }
  return body;
}

std::vector<json> text_requests(const json& m, std::string_view to, bool bsuid) {
  const auto it = m.find("preview_url");
  const bool preview = it != m.end() && it->is_boolean() && it->get<bool>();
  std::vector<json> out;
  for (auto& part : split_text(string_or_empty(m, "text"))) {
    json body = envelope(to, bsuid, out.empty() ? m : json::object());  // quote only once
    body["type"] = "text";
    body["text"] = {{"body", std::move(part)}, {"preview_url", preview}};
    out.push_back(std::move(body));
  }
  return out;
}

json interactive(json inner, const json& m, std::string_view to, bool bsuid) {
  // An optional text header (buttons and lists), e.g. the "title" of an agent's message.
  if (auto header = string_or_empty(m, "header"); !header.empty()) inner["header"] = {{"type", "text"}, {"text", header}};
  json body = envelope(to, bsuid, m);
  body["type"] = "interactive";
  body["interactive"] = std::move(inner);
  return body;
}

json buttons_request(const json& m, std::string_view to, bool bsuid) {
  json buttons = json::array();
  for (const auto& b : m.at("buttons")) {
    const auto choice = read_choice(b);  // validated: never nullopt here
    buttons.push_back({{"type", "reply"}, {"reply", {{"id", choice->id}, {"title", choice->title}}}});
  }
  return interactive({{"type", "button"},
                      {"body", {{"text", string_or_empty(m, "text")}}},
                      {"action", {{"buttons", std::move(buttons)}}}},
                     m, to, bsuid);
}

json list_request(const json& m, std::string_view to, bool bsuid) {
  json sections = json::array();
  for (const auto& s : m.at("sections")) {
    json rows = json::array();
    for (const auto& r : s.at("rows")) {
      const auto choice = read_choice(r);
      json row = {{"id", choice->id}, {"title", choice->title}};
      if (choice->description && !choice->description->empty()) row["description"] = *choice->description;
      rows.push_back(std::move(row));
    }
    json section = {{"rows", std::move(rows)}};
    if (auto title = string_or_empty(s, "title"); !title.empty()) section["title"] = title;
    sections.push_back(std::move(section));
  }
  return interactive({{"type", "list"},
                      {"body", {{"text", string_or_empty(m, "text")}}},
                      {"action", {{"button", string_or_empty(m, "button")}, {"sections", std::move(sections)}}}},
                     m, to, bsuid);
}

json cta_url_request(const json& m, std::string_view to, bool bsuid) {
  return interactive(
      {{"type", "cta_url"},
       {"body", {{"text", string_or_empty(m, "text")}}},
       {"action",
        {{"name", "cta_url"},
         {"parameters", {{"display_text", string_or_empty(m, "display_text")}, {"url", string_or_empty(m, "url")}}}}}},
      m, to, bsuid);
}

json template_request(const json& m, std::string_view to, bool bsuid) {
  json tmpl = {{"name", string_or_empty(m, "name")}};
  const json& language = m.at("language");
  tmpl["language"] = language.is_object() ? json{{"code", language.at("code")}} : json{{"code", language}};
  if (const auto c = m.find("components"); c != m.end() && c->is_array()) {
    tmpl["components"] = *c;
  } else if (const auto p = m.find("parameters"); p != m.end() && p->is_array() && !p->empty()) {
    // The simple form: positional body parameters {{1}}, {{2}}, ...
    json parameters = json::array();
    for (const auto& value : *p) {
      parameters.push_back({{"type", "text"}, {"text", value.is_string() ? value.get<std::string>() : value.dump()}});
    }
    tmpl["components"] = json::array({{{"type", "body"}, {"parameters", std::move(parameters)}}});
  }
  json body = envelope(to, bsuid, m);
  body["type"] = "template";
  body["template"] = std::move(tmpl);
  return body;
}

json media_request(const json& m, const std::string& type, std::string_view to, bool bsuid) {
  json media = json::object();
  if (auto link = string_or_empty(m, "link"); !link.empty()) {
    media["link"] = link;
  } else {
    media["id"] = string_or_empty(m, "id");
  }
  if (auto caption = string_or_empty(m, "caption"); !caption.empty()) media["caption"] = caption;
  if (auto filename = string_or_empty(m, "filename"); !filename.empty()) media["filename"] = filename;
  json body = envelope(to, bsuid, m);
  body["type"] = type;
  body[type] = std::move(media);
  return body;
}

json reaction_request(const json& m, std::string_view to, bool bsuid) {
  json body = envelope(to, bsuid, json::object());  // a reaction cannot quote
  body["type"] = "reaction";
  // An empty emoji removes a previous reaction.
  body["reaction"] = {{"message_id", string_or_empty(m, "message_id")}, {"emoji", string_or_empty(m, "emoji")}};
  return body;
}

json location_request(const json& m, std::string_view to, bool bsuid) {
  json location = {{"latitude", m.at("latitude")}, {"longitude", m.at("longitude")}};
  if (auto name = string_or_empty(m, "name"); !name.empty()) location["name"] = name;
  if (auto address = string_or_empty(m, "address"); !address.empty()) location["address"] = address;
  json body = envelope(to, bsuid, m);
  body["type"] = "location";
  body["location"] = std::move(location);
  return body;
}

json mark_read_request(const json& m) {
  json body = {{"messaging_product", "whatsapp"}, {"status", "read"}, {"message_id", string_or_empty(m, "message_id")}};
  if (const auto t = m.find("typing"); t != m.end() && t->is_boolean() && t->get<bool>()) {
    body["typing_indicator"] = {{"type", "text"}};
  }
  return body;
}

}  // namespace

std::vector<json> build_requests(const json& message, std::string_view to, bool to_is_bsuid) {
  if (validate(message)) return {};
  const std::string type = message.at("type").get<std::string>();
  if (type == "mark_read") return {mark_read_request(message)};
  if (to.empty()) return {};
  if (type == "text") return text_requests(message, to, to_is_bsuid);
  if (type == "buttons") return {buttons_request(message, to, to_is_bsuid)};
  if (type == "list") return {list_request(message, to, to_is_bsuid)};
  if (type == "cta_url") return {cta_url_request(message, to, to_is_bsuid)};
  if (type == "template") return {template_request(message, to, to_is_bsuid)};
  if (type == "reaction") return {reaction_request(message, to, to_is_bsuid)};
  if (type == "location") return {location_request(message, to, to_is_bsuid)};
  return {media_request(message, type, to, to_is_bsuid)};  // validate() admitted only media types here
}

}  // namespace charla::whatsapp
