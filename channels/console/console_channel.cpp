#include "console/console_channel.hpp"

#include <chrono>

namespace charla::console {

using nlohmann::json;

ConsoleChannel::ConsoleChannel(store::Store& store, Format format, std::ostream& out)
    : store_(store), format_(format), out_(out) {}

std::optional<std::string> ConsoleChannel::validate(const json& message) const {
  if (!message.is_object() || !message.contains("type")) return "an outbound message needs a type";
  if (outbound_check_) return outbound_check_(message);
  return std::nullopt;
}

namespace {

// The options a user can pick by number: buttons, or the rows of every list section.
json choices_of(const json& message) {
  json choices = json::array();
  auto type = message.value("type", "");
  if (type == "buttons") {
    for (auto& b : message.value("buttons", json::array())) choices.push_back({{"kind", "button"}, {"item", b}});
  } else if (type == "list") {
    for (auto& section : message.value("sections", json::array()))
      for (auto& row : section.value("rows", json::array())) choices.push_back({{"kind", "list"}, {"item", row}});
  }
  return choices;
}

std::string text_of(const json& m) {
  auto type = m.value("type", "");
  if (m.contains("text") && m["text"].is_string()) return m["text"].get<std::string>();
  if (type == "template") return "[plantilla " + m.value("name", "") + "]";
  if (type == "reaction") return "[reacción " + m.value("emoji", "") + "]";
  if (type == "mark_read") return "";
  if (m.contains("caption")) return "[" + type + "] " + m.value("caption", "");
  return "[" + type + "]";
}

}  // namespace

void ConsoleChannel::print(const runtime::OutboundRow& row) {
  const auto& m = row.message;
  // A number typed next picks from the latest message only if that message offered options.
  auto choices = choices_of(m);
  if (!choices.empty())
    last_choices_[row.to] = choices;
  else if (m.value("type", "") != "mark_read" && m.value("type", "") != "reaction")
    last_choices_.erase(row.to);
  if (format_ == Format::json) {
    out_ << json{{"event", "message"}, {"phone", row.to}, {"message", m}}.dump() << "\n";
    return;
  }
  auto text = text_of(m);
  if (text.empty()) return;
  out_ << "bot> " << text << "\n";
  for (std::size_t i = 0; i < choices.size(); ++i)
    out_ << "     " << (i + 1) << ") " << choices[i]["item"].value("title", "") << "\n";
}

void ConsoleChannel::dispatch(std::vector<runtime::OutboundRow> rows) {
  {
    std::lock_guard lock(mutex_);
    for (auto& row : rows) print(row);
    out_.flush();
  }
  // Printed is delivered: the outbox rows are done.
  store_.submit(
      [rows](store::WriteTxn& txn) {
        for (auto& r : rows) txn.del(store::Db::outbox, store::be64(r.seq));
      },
      [](const std::string&) {});
}

json ConsoleChannel::message_from_line(const std::string& user, const std::string& name, const std::string& line,
                                       std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  json msg{{"id", "console." + std::to_string(now_ms) + "." + std::to_string(next_id_++)},
           {"type", "text"}, {"text", line}, {"from", user}, {"name", name}, {"timestamp", now_ms / 1000}};
  auto it = last_choices_.find(user);
  if (it == last_choices_.end()) return msg;
  std::size_t pick = 0;
  try {
    std::size_t used = 0;
    pick = std::stoul(line, &used);
    if (used != line.size()) pick = 0;
  } catch (const std::exception&) {
    pick = 0;
  }
  if (pick < 1 || pick > it->second.size()) return msg;
  const auto& choice = it->second[pick - 1];
  const auto& item = choice["item"];
  msg["type"] = "interactive";
  msg["text"] = item.value("title", "");
  if (choice["kind"] == "button")
    msg["button"] = {{"id", item.value("id", "")}, {"title", item.value("title", "")}};
  else
    msg["list"] = {{"id", item.value("id", "")}, {"title", item.value("title", "")},
                   {"description", item.value("description", "")}};
  return msg;
}

void ConsoleChannel::print_turn(const std::string& user, const std::string& state, bool ok, const std::string& error,
                                bool timer) {
  std::lock_guard lock(mutex_);
  if (format_ == Format::json) {
    json line{{"event", "turn"}, {"phone", user}, {"state", state}, {"ok", ok}};
    if (timer) line["timer"] = true;
    if (!ok) line["error"] = error;
    out_ << line.dump() << "\n";
  } else if (!ok) {
    out_ << "     (error en el flujo" << (timer ? ", turno de temporizador" : "") << ": " << error << ")\n";
  } else {
    out_ << "     [" << state << "]" << (timer ? " (turno de temporizador)" : "") << "\n";
  }
  out_.flush();
}

void ConsoleChannel::print_event(const json& event) {
  std::lock_guard lock(mutex_);
  if (format_ == Format::json) {
    json line = event;
    line.erase("note");  // the terminal's wording
    out_ << line.dump() << "\n";
  } else {
    out_ << "     (" << event.value("note", "") << ")\n";
  }
  out_.flush();
}

json ConsoleChannel::message_from_json(const std::string& user, const std::string& name, const json& input,
                                       std::int64_t now_ms, std::string& error) {
  std::lock_guard lock(mutex_);
  json msg{{"id", "console." + std::to_string(now_ms) + "." + std::to_string(next_id_++)},
           {"from", user}, {"name", name}, {"timestamp", now_ms / 1000}};
  auto string_of = [&](const char* key) -> std::string {
    auto it = input.find(key);
    if (it == input.end()) return {};
    if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
      error = std::string("\"") + key + "\" must be a non-empty string";
      return {};
    }
    return it->get<std::string>();
  };
  if (!input.is_object() || input.empty()) {
    error = "a JSON input line must be an object such as {\"text\":\"2\"}, {\"button\":\"id\"}, {\"list\":\"id\"}, "
            "{\"type\":\"location\",...} or {\"wait\":\"10m\"}";
    return json::object();
  }
  if (input.contains("text") && input.size() == 1) {
    msg["type"] = "text";
    msg["text"] = string_of("text");
    return error.empty() ? msg : json::object();
  }
  for (const char* kind : {"button", "list"}) {
    if (!input.contains(kind)) continue;
    if (input.size() != 1) {
      error = std::string("{\"") + kind + "\": ...} takes no other keys";
      return json::object();
    }
    const std::string wanted = string_of(kind);
    if (!error.empty()) return json::object();
    // The option of the last interactive message with that id or title; a tap on an
    // older message (or one chat never showed) keeps the given text as id and title.
    json item{{"id", wanted}, {"title", wanted}};
    if (auto it = last_choices_.find(user); it != last_choices_.end())
      for (const auto& choice : it->second)
        if (choice["kind"] == kind && (choice["item"].value("id", "") == wanted || choice["item"].value("title", "") == wanted)) {
          item = choice["item"];
          break;
        }
    msg["type"] = "interactive";
    msg["text"] = item.value("title", "");
    if (std::string_view(kind) == "button") msg["button"] = {{"id", item.value("id", "")}, {"title", item.value("title", "")}};
    else msg["list"] = {{"id", item.value("id", "")}, {"title", item.value("title", "")}, {"description", item.value("description", "")}};
    return msg;
  }
  const std::string type = string_of("type");
  if (!error.empty() || type.empty()) {
    if (error.empty())
      error = "unknown input object " + input.dump() + " (expected text, button, list, type or wait)";
    return json::object();
  }
  // A message of any type, as the WhatsApp channel would map it: its fields as given;
  // a media caption is also its text.
  for (const auto& [key, value] : input.items()) msg[key] = value;
  if (type == "location" && !msg.contains("location")) {  // {"type":"location","latitude":..,"longitude":..}
    json location = json::object();
    for (const char* key : {"latitude", "longitude", "address"})  // "name" stays the sender's
      if (input.contains(key)) {
        location[key] = input[key];
        msg.erase(key);
      }
    if (!location.contains("latitude") || !location.contains("longitude")) {
      error = "a location needs \"location\": {\"latitude\": .., \"longitude\": ..} (or latitude and longitude)";
      return json::object();
    }
    msg["location"] = location;
  }
  if (auto media = msg.find("media"); media != msg.end() && media->is_object() && media->contains("caption") &&
                                      !msg.contains("text"))
    msg["text"] = (*media)["caption"];
  return msg;
}

}  // namespace charla::console
