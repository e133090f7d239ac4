#include "whatsapp/protocol/webhook_parser.hpp"

#include "whatsapp/protocol/bounded_json.hpp"
#include "whatsapp/protocol/inbound_message.hpp"
#include "whatsapp/protocol/payload_fields.hpp"

#include <optional>
#include <utility>

namespace charla::whatsapp {
namespace {

using json = nlohmann::json;
using payload::id_field;
using payload::member;
using payload::text_field;
using payload::unix_seconds;

// A hostile body could hold a million malformed items; operators need the first few
// and a count, not a million log lines.
constexpr std::size_t kMaxWarnings = 100;

struct Contact {
  std::string wa_id;
  std::string user_id;
  std::string name;
};

std::string index_path(const std::string& path, std::string_view key, std::size_t i) {
  std::string out = path;
  if (!out.empty()) out += '.';
  out += key;
  out += '[';
  out += std::to_string(i);
  out += ']';
  return out;
}

// payload::member for a document the walker may take parts of.
json* find(json& object, std::string_view key) { return const_cast<json*>(member(object, key)); }
const json* find(const json& object, std::string_view key) { return member(object, key); }

class BatchWalker {
 public:
  explicit BatchWalker(WebhookBatch& batch) : batch_(batch) {}

  // Takes each message object over (moved into its msg.raw); the rest of `body` stays.
  void walk(json& body) {
    if (!body.is_object()) {
      warn("body", "not a JSON object");
      return;
    }
    if (auto object = text_field(body, "object"); object && *object != "whatsapp_business_account") {
      warn("body", "object is \"" + *object + "\", not whatsapp_business_account");
    }
    for_each_in(body, "entry", "", [this](json& entry, const std::string& path) {
      walk_entry(entry, path);
    });
  }

  void finish() {
    if (suppressed_ > 0) {
      batch_.warnings.push_back(std::to_string(suppressed_) + " more warnings not shown");
    }
  }

 private:
  void warn(const std::string& path, std::string_view what) {
    if (batch_.warnings.size() >= kMaxWarnings) {
      ++suppressed_;
      return;
    }
    std::string line = path;
    line += ": ";
    line += what;
    batch_.warnings.push_back(std::move(line));
  }

  // Calls f(element, path) for every object in the array `parent[key]`; warns about a
  // missing or non-array member and skips (with a warning) elements that are not
  // objects. Absent optional arrays pass `required = false`.
  // Json is `json` on the path to messages[], which are taken over (moved) as msg.raw,
  // and `const json` elsewhere.
  template <class Json, class F>
  void for_each_in(Json& parent, std::string_view key, const std::string& parent_path, F&& f,
                   bool required = true) {
    Json* array = find(parent, key);
    const std::string where = parent_path.empty() ? std::string("body") : parent_path;
    if (array == nullptr) {
      if (required) warn(where, "missing " + std::string(key));
      return;
    }
    if (!array->is_array()) {
      warn(where, std::string(key) + " is not an array");
      return;
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
      Json& element = (*array)[i];
      std::string path = index_path(parent_path, key, i);
      if (!element.is_object()) {
        warn(path, "not an object");
        continue;
      }
      f(element, path);
    }
  }

  void walk_entry(json& entry, const std::string& path) {
    for_each_in(entry, "changes", path, [this](json& change, const std::string& p) {
      walk_change(change, p);
    });
  }

  void walk_change(json& change, const std::string& path) {
    const auto field = text_field(change, "field");
    if (!field) {
      warn(path, "missing field");
      return;
    }
    if (*field != "messages") {
      // Template status, account and quality updates have other shapes; the engine
      // only logs them.
      batch_.ignored.push_back(*field);
      return;
    }
    json* value = find(change, "value");
    if (value == nullptr || !value->is_object()) {
      warn(path + ".value", value == nullptr ? "missing" : "not an object");
      return;
    }
    walk_value(*value, path + ".value");
  }

  void walk_value(json& value, const std::string& path) {
    std::string phone_number_id;
    if (const json* metadata = member(value, "metadata")) {
      phone_number_id = id_field(*metadata, "phone_number_id").value_or("");
    }

    for_each_in(
        value, "errors", path,
        [&](const json& error, const std::string&) {
          batch_.errors.push_back(ValueError{phone_number_id, error});
        },
        /*required=*/false);

    const bool has_events = member(value, "messages") != nullptr || member(value, "statuses") != nullptr;
    if (!has_events) return;
    if (phone_number_id.empty()) {
      // Without the business number there is no conversation to route to.
      warn(path, "missing metadata.phone_number_id; messages and statuses skipped");
      return;
    }

    const std::vector<Contact> contacts = read_contacts(value, path);
    for_each_in(
        value, "messages", path,
        [&](json& message, const std::string& p) {
          walk_message(message, p, phone_number_id, contacts);
        },
        /*required=*/false);
    for_each_in(
        value, "statuses", path,
        [&](const json& status, const std::string& p) { walk_status(status, p, phone_number_id); },
        /*required=*/false);
  }

  std::vector<Contact> read_contacts(const json& value, const std::string& path) {
    std::vector<Contact> out;
    for_each_in(
        value, "contacts", path,
        [&](const json& contact, const std::string&) {
          Contact c;
          c.wa_id = id_field(contact, "wa_id").value_or("");
          c.user_id = id_field(contact, "user_id").value_or("");
          if (const json* profile = member(contact, "profile")) {
            c.name = text_field(*profile, "name").value_or("");
          }
          out.push_back(std::move(c));
        },
        /*required=*/false);
    return out;
  }

  // contacts[] is parallel data about senders; Meta does not promise it lines up with
  // messages[] by position, so match by phone first, then by BSUID.
  static const Contact* find_contact(const std::vector<Contact>& contacts, const std::string& from,
                                     const std::string& from_user_id) {
    if (!from.empty()) {
      for (const auto& c : contacts) {
        if (c.wa_id == from) return &c;
      }
    }
    if (!from_user_id.empty()) {
      for (const auto& c : contacts) {
        if (c.user_id == from_user_id) return &c;
      }
    }
    return nullptr;
  }

  void walk_message(json& message, const std::string& path, const std::string& phone_number_id,
                    const std::vector<Contact>& contacts) {
    InboundMessage m;
    m.phone_number_id = phone_number_id;
    auto id = id_field(message, "id");
    if (!id) {
      warn(path, "missing id");
      return;
    }
    m.id = std::move(*id);

    const std::string from = id_field(message, "from").value_or("");
    const std::string from_user_id = id_field(message, "from_user_id").value_or("");
    const Contact* contact = find_contact(contacts, from, from_user_id);
    m.wa_id = !from.empty() ? from : (contact ? contact->wa_id : std::string());
    m.user_id = !from_user_id.empty() ? from_user_id : (contact ? contact->user_id : std::string());
    if (contact) m.profile_name = contact->name;
    // The phone stays the key when Meta sends it, so conversations started before the
    // BSUID rollout keep their key; username-only users are keyed by BSUID.
    m.user = !m.wa_id.empty() ? m.wa_id : m.user_id;
    if (m.user.empty()) {
      warn(path, "missing from and from_user_id");
      return;
    }

    if (auto type = text_field(message, "type"); type && !type->empty()) {
      m.type = std::move(*type);
    } else {
      warn(path, "missing type; kept as \"unknown\"");
      m.type = "unknown";
    }
    if (auto ts = unix_seconds(message, "timestamp")) {
      m.timestamp = *ts;
    } else {
      warn(path, "missing or invalid timestamp; using 0");
    }

    m.msg = flow_message(std::move(message), m);  // the last read of `message`
    batch_.messages.push_back(std::move(m));
  }

  void walk_status(const json& status, const std::string& path, const std::string& phone_number_id) {
    StatusUpdate s;
    s.phone_number_id = phone_number_id;
    auto id = id_field(status, "id");
    if (!id) {
      warn(path, "missing id");
      return;
    }
    s.wamid = std::move(*id);
    auto state = text_field(status, "status");
    if (!state || state->empty()) {
      warn(path, "missing status");
      return;
    }
    s.status = std::move(*state);
    if (auto ts = unix_seconds(status, "timestamp")) {
      s.timestamp = *ts;
    } else {
      warn(path, "missing or invalid timestamp; using 0");
    }
    s.recipient = id_field(status, "recipient_id").value_or(id_field(status, "recipient_user_id").value_or(""));
    if (const json* errors = member(status, "errors")) s.errors = *errors;
    batch_.statuses.push_back(std::move(s));
  }

  WebhookBatch& batch_;
  std::size_t suppressed_ = 0;
};

}  // namespace

WebhookParseResult parse_webhook(std::string_view body) {
  WebhookParseResult result;
  std::string error;
  auto doc = parse_bounded_json(body, kMaxJsonDepth, &error);
  if (!doc) {
    result.error = std::move(error);
    return result;
  }
  result.ok = true;
  if (doc->truncated) {
    result.batch.warnings.push_back("body: values nested deeper than " + std::to_string(kMaxJsonDepth) +
                                    " levels were dropped");
  }
  BatchWalker walker(result.batch);
  walker.walk(doc->value);
  walker.finish();
  return result;
}

std::string conversation_key(std::string_view phone_number_id, std::string_view user) {
  std::string key = "whatsapp:";
  key.reserve(key.size() + phone_number_id.size() + 1 + user.size());
  key += phone_number_id;
  key += ':';
  key += user;
  return key;
}

}  // namespace charla::whatsapp
