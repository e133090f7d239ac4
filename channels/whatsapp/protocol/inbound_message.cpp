#include "whatsapp/protocol/inbound_message.hpp"

#include "whatsapp/protocol/bounded_json.hpp"
#include "whatsapp/protocol/payload_fields.hpp"

#include <array>
#include <charconv>
#include <string_view>

namespace charla::whatsapp {
namespace {

using json = nlohmann::json;
using payload::member;
using payload::text_field;

constexpr std::array<std::string_view, 5> kMediaTypes = {"image", "audio", "video", "document",
                                                         "sticker"};

bool is_media(std::string_view type) {
  for (auto t : kMediaTypes) {
    if (t == type) return true;
  }
  return false;
}

// Copies `key` from `from` into `to` when it is a string.
void copy_string(const json& from, std::string_view key, json& to) {
  if (auto s = text_field(from, key)) to[std::string(key)] = std::move(*s);
}

void copy_bool(const json& from, std::string_view key, json& to) {
  const json* v = member(from, key);
  if (v != nullptr && v->is_boolean()) to[std::string(key)] = v->get<bool>();
}

// Meta sends coordinates as numbers; a string holding a number is accepted too.
void copy_number(const json& from, std::string_view key, json& to) {
  const json* v = member(from, key);
  if (v == nullptr) return;
  if (v->is_number()) {
    to[std::string(key)] = *v;
  } else if (v->is_string()) {
    const auto& s = v->get_ref<const std::string&>();
    double d = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
    if (ec == std::errc() && end == s.data() + s.size()) to[std::string(key)] = d;
  }
}

void lift_media(const json& body, json& msg) {
  json media = json::object();
  for (auto key : {"id", "mime_type", "sha256", "caption", "filename", "url"}) {
    copy_string(body, key, media);
  }
  copy_bool(body, "voice", media);
  copy_bool(body, "animated", media);
  if (media.contains("caption")) msg["text"] = media["caption"];
  msg["media"] = std::move(media);
}

void lift_location(const json& body, json& msg) {
  json location = json::object();
  copy_number(body, "latitude", location);
  copy_number(body, "longitude", location);
  for (auto key : {"name", "address", "url"}) copy_string(body, key, location);
  msg["location"] = std::move(location);
}

void lift_reaction(const json& body, json& msg) {
  json reaction = json::object();
  copy_string(body, "message_id", reaction);
  // A removed reaction has no emoji (or, in some versions, an empty one): leave it
  // out so a flow tests `msg.reaction.emoji == nil` for removal.
  if (auto emoji = text_field(body, "emoji"); emoji && !emoji->empty()) reaction["emoji"] = *emoji;
  msg["reaction"] = std::move(reaction);
}

// A WhatsApp Flow answer: response_json is a JSON document inside a string. If it
// does not parse, the flow still gets the string.
json flow_response(const json& reply) {
  const json* response = member(reply, "response_json");
  if (response == nullptr) return nullptr;
  if (!response->is_string()) return *response;
  const auto& text = response->get_ref<const std::string&>();
  if (auto parsed = parse_bounded_json(text)) return std::move(parsed->value);
  return text;
}

void lift_interactive(const json& body, json& msg) {
  const auto kind = text_field(body, "type").value_or("");
  const json* reply = member(body, kind);
  if (reply == nullptr || !reply->is_object()) return;
  if (kind == "button_reply") {
    json button = json::object();
    copy_string(*reply, "id", button);
    copy_string(*reply, "title", button);
    if (button.contains("title")) msg["text"] = button["title"];
    msg["button"] = std::move(button);
  } else if (kind == "list_reply") {
    json list = json::object();
    copy_string(*reply, "id", list);
    copy_string(*reply, "title", list);
    copy_string(*reply, "description", list);
    if (list.contains("title")) msg["text"] = list["title"];
    msg["list"] = std::move(list);
  } else if (kind == "nfm_reply") {
    json flow = json::object();
    copy_string(*reply, "name", flow);
    copy_string(*reply, "body", flow);
    if (json response = flow_response(*reply); !response.is_null()) {
      flow["response"] = std::move(response);
    }
    if (flow.contains("body")) msg["text"] = flow["body"];
    msg["flow"] = std::move(flow);
  }
  // Other interactive kinds (newer ones) reach the flow through msg.raw.
}

// Quick-reply button of a template: the payload plays the role of the button id.
void lift_template_button(const json& body, json& msg) {
  json button = json::object();
  if (auto payload = text_field(body, "payload")) button["id"] = *payload;
  if (auto text = text_field(body, "text")) {
    button["title"] = *text;
    msg["text"] = *text;
  }
  msg["button"] = std::move(button);
}

}  // namespace

json flow_message(const json& message, const InboundMessage& identity) { return flow_message(json(message), identity); }

json flow_message(json&& message, const InboundMessage& identity) {
  json msg = json::object();
  msg["id"] = identity.id;
  msg["type"] = identity.type;
  msg["from"] = identity.user;
  if (!identity.wa_id.empty()) msg["wa_id"] = identity.wa_id;
  if (!identity.user_id.empty()) msg["user_id"] = identity.user_id;
  if (!identity.profile_name.empty()) msg["name"] = identity.profile_name;
  msg["timestamp"] = identity.timestamp;

  const std::string& type = identity.type;
  const json* body = member(message, type);
  if (body != nullptr && body->is_object()) {
    if (type == "text") {
      if (auto text = text_field(*body, "body")) msg["text"] = std::move(*text);
    } else if (is_media(type)) {
      lift_media(*body, msg);
    } else if (type == "location") {
      lift_location(*body, msg);
    } else if (type == "reaction") {
      lift_reaction(*body, msg);
    } else if (type == "interactive") {
      lift_interactive(*body, msg);
    } else if (type == "button") {
      lift_template_button(*body, msg);
    }
  }

  // Passed through as given: their shapes are Meta's and flows read them directly.
  for (auto key : {"contacts", "context", "referral", "system", "order", "errors"}) {
    if (const json* v = member(message, key)) msg[key] = *v;
  }
  msg["raw"] = std::move(message);
  return msg;
}

}  // namespace charla::whatsapp
