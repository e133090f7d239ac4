#include "whatsapp/send_request.hpp"

#include "whatsapp/protocol/message_builder.hpp"

#include <cctype>

namespace charla::whatsapp {

using nlohmann::json;

namespace {

const json* member(const json& body, const char* key) {
  auto it = body.find(key);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

// A string member, "" when absent; `why` is set when present but not a string.
std::string string_member(const json& body, const char* key, std::string& why) {
  const json* v = member(body, key);
  if (!v) return "";
  if (!v->is_string()) {
    if (why.empty()) why = std::string("\"") + key + "\" must be a string";
    return "";
  }
  return v->get<std::string>();
}

// The recipient and sender fields shared by every admin body.
std::optional<std::string> read_target(const json& body, SendRequest& out) {
  std::string why;
  const auto to = string_member(body, "to", why);
  out.conversation = string_member(body, "conversation", why);
  out.account = string_member(body, "phone_number_id", why);
  if (out.account.empty()) out.account = string_member(body, "account", why);
  if (const json* agent = member(body, "agent")) {
    if (!agent->is_string() || agent->get<std::string>().empty() || agent->get<std::string>().size() > 100)
      return "\"agent\" must be a name of 1 to 100 characters";
    out.agent = agent->get<std::string>();
  }
  if (!why.empty()) return why;
  if (to.empty() == out.conversation.empty())
    return "give exactly one recipient: \"to\" (the customer's phone) or \"conversation\" (a conversation key)";
  if (!to.empty()) {
    auto phone = normalize_phone(to);
    if (!phone) return "\"to\" must be a phone number in international format (6 to 15 digits, e.g. \"+56912345678\")";
    out.to = *phone;
  } else if (!out.conversation.starts_with("whatsapp:") || out.conversation.size() > 400 ||
             out.conversation.find(':', 9) == std::string::npos) {
    return "\"conversation\" must be a WhatsApp conversation key \"whatsapp:<phone_number_id>:<user>\"";
  }
  return std::nullopt;
}

std::optional<std::string> read_template(const json& t, json& message) {
  if (!t.is_object()) return "\"template\" must be an object {\"name\", \"language\", \"parameters\"?}";
  message = {{"type", "template"}};
  std::string why;
  const auto name = string_member(t, "name", why);
  if (!why.empty()) return "template " + why;
  if (name.empty()) return "template \"name\" is required (an approved template's name)";
  message["name"] = name;
  const json* language = member(t, "language");
  if (!language) return "template \"language\" is required (e.g. \"es\" or \"es_MX\")";
  if (!language->is_string() && !(language->is_object() && language->contains("code")))
    return "template \"language\" must be a code such as \"es\" or {\"code\": \"es\"}";
  message["language"] = *language;
  if (const json* p = member(t, "parameters")) {
    if (!p->is_array()) return "template \"parameters\" must be a list of values for {{1}}, {{2}}, ...";
    message["parameters"] = *p;
  }
  if (const json* c = member(t, "components")) {
    if (!c->is_array()) return "template \"components\" must be a list (Graph API components)";
    message["components"] = *c;
  }
  return std::nullopt;
}

std::optional<std::string> read_media(const json& m, json& message) {
  if (!m.is_object()) return "\"media\" must be an object {\"type\", \"link\", \"caption\"?, \"filename\"?}";
  std::string why;
  const auto type = string_member(m, "type", why);
  if (!why.empty()) return "media " + why;
  if (type != "image" && type != "audio" && type != "video" && type != "document" && type != "sticker")
    return "media \"type\" must be image, audio, video, document or sticker";
  const auto link = string_member(m, "link", why);
  if (!why.empty()) return "media " + why;
  if (link.empty()) return "media \"link\" is required (an https:// URL the Graph API can fetch)";
  message = {{"type", type}, {"link", link}};
  for (const char* key : {"caption", "filename"}) {
    const auto value = string_member(m, key, why);
    if (!why.empty()) return "media " + why;
    if (!value.empty()) message[key] = value;
  }
  return std::nullopt;
}

// WhatsApp's own limits (buttons, lengths, UTF-8) in the words of message_builder.
std::optional<std::string> check_limits(const SendRequest& r) {
  if (auto why = validate(r.message)) return *why;
  return std::nullopt;
}

ParsedSend finish(SendRequest r) {
  if (auto why = check_limits(r)) return *why;
  return r;
}

// A button as the admin API takes it: "title", {"id","title"}, or the Graph API's own
// {"type":"reply","reply":{"id","title"}} (what the replaced systems send).
json neutral_button(const json& b) {
  if (b.is_object() && b.contains("reply") && b["reply"].is_object()) return b["reply"];
  return b;
}

}  // namespace

std::optional<std::string> normalize_phone(const std::string& given) {
  std::string digits;
  for (std::size_t i = 0; i < given.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(given[i]);
    if (std::isdigit(c))
      digits.push_back(static_cast<char>(c));
    else if (c == '+' && digits.empty() && i == given.find_first_not_of(' '))
      continue;
    else if (c != ' ' && c != '-' && c != '(' && c != ')' && c != '.')
      return std::nullopt;
  }
  if (digits.size() < 6 || digits.size() > 15) return std::nullopt;
  return digits;
}

ParsedSend parse_admin_send(const json& body) {
  if (!body.is_object()) return "the body must be a JSON object";
  SendRequest r;
  if (auto why = read_target(body, r)) return *why;
  const json* text = member(body, "text");
  const json* tmpl = member(body, "template");
  const json* media = member(body, "media");
  if ((text != nullptr) + (tmpl != nullptr) + (media != nullptr) != 1)
    return "give exactly one of \"text\", \"template\" or \"media\" (use /admin/send-interactive for buttons and lists)";
  if (text) {
    if (!text->is_string()) return "\"text\" must be a string";
    r.message = {{"type", "text"}, {"text", *text}};
    if (const json* preview = member(body, "preview_url")) {
      if (!preview->is_boolean()) return "\"preview_url\" must be true or false";
      r.message["preview_url"] = *preview;
    }
  } else if (tmpl) {
    if (auto why = read_template(*tmpl, r.message)) return *why;
  } else if (auto why = read_media(*media, r.message)) {
    return *why;
  }
  return finish(std::move(r));
}

ParsedSend parse_admin_send_interactive(const json& body) {
  if (!body.is_object()) return "the body must be a JSON object";
  SendRequest r;
  if (auto why = read_target(body, r)) return *why;
  std::string why;
  auto text = string_member(body, "text", why);
  if (text.empty()) text = string_member(body, "body", why);
  auto header = string_member(body, "header", why);
  if (header.empty()) header = string_member(body, "title", why);
  if (!why.empty()) return why;
  if (text.empty()) return "\"text\" (the message body) is required";
  const json* buttons = member(body, "buttons");
  const json* sections = member(body, "sections");
  if ((buttons != nullptr) == (sections != nullptr))
    return "give either \"buttons\" (1 to 3 reply buttons) or \"button\" and \"sections\" (a list)";
  if (buttons) {
    if (!buttons->is_array()) return "\"buttons\" must be a list of buttons";
    json neutral = json::array();
    for (const auto& b : *buttons) neutral.push_back(neutral_button(b));
    r.message = {{"type", "buttons"}, {"text", text}, {"buttons", std::move(neutral)}};
  } else {
    r.message = {{"type", "list"}, {"text", text}, {"sections", *sections}};
    const auto label = string_member(body, "button", why);
    if (!why.empty()) return why;
    if (label.empty()) return "\"button\" (the label that opens the list, e.g. \"Ver opciones\") is required with \"sections\"";
    r.message["button"] = label;
  }
  if (!header.empty()) r.message["header"] = header;
  return finish(std::move(r));
}

ParsedSend parse_compat_send(const json& body) {
  if (!body.is_object()) return "the body must be a JSON object";
  std::string why;
  const auto phone = string_member(body, "phone_number", why);
  const auto message = string_member(body, "message", why);
  auto type = string_member(body, "message_type", why);
  const auto template_name = string_member(body, "template_name", why);
  const auto language = string_member(body, "language", why);
  if (!why.empty()) return why;
  if (phone.empty()) return "\"phone_number\" is required";
  json admin{{"to", phone}};
  if (type.empty() || type == "text") {
    admin["text"] = message;
  } else if (type == "template") {
    const auto name = template_name.empty() ? message : template_name;
    if (name.empty()) return "a template needs its name in \"template_name\" (or \"message\")";
    admin["template"] = {{"name", name}, {"language", language.empty() ? "es" : language}};
    if (const json* p = member(body, "parameters")) admin["template"]["parameters"] = *p;
  } else {
    return "\"message_type\" must be \"text\" or \"template\" (use /whatsapp/send-interactive for buttons)";
  }
  if (const json* agent = member(body, "agent")) admin["agent"] = *agent;
  return parse_admin_send(admin);
}

ParsedSend parse_compat_send_interactive(const json& body) {
  if (!body.is_object()) return "the body must be a JSON object";
  std::string why;
  const auto phone = string_member(body, "phone_number", why);
  if (!why.empty()) return why;
  if (phone.empty()) return "\"phone_number\" is required";
  json admin = body;
  admin.erase("phone_number");
  admin["to"] = phone;
  return parse_admin_send_interactive(admin);
}

ParsedSend parse_integrations_send(const json& body) {
  if (!body.is_object()) return "the body must be a JSON object";
  std::string why;
  const auto phone = string_member(body, "phone_number", why);
  const auto message = string_member(body, "message", why);
  const auto account = string_member(body, "business_account_id", why);
  if (!why.empty()) return why;
  if (phone.empty()) return "\"phone_number\" is required";
  auto parsed = parse_admin_send(json{{"to", phone}, {"text", message}});
  if (auto* r = std::get_if<SendRequest>(&parsed)) {
    r->account = account;
    r->account_is_hint = !account.empty();
  }
  return parsed;
}

}  // namespace charla::whatsapp
