#include "console/console_channel.hpp"

#include <chrono>

namespace charla::console {

using nlohmann::json;

ConsoleChannel::ConsoleChannel(store::Store& store, Format format, std::ostream& out)
    : store_(store), format_(format), out_(out) {}

std::optional<std::string> ConsoleChannel::validate(const json& message) const {
  if (!message.is_object() || !message.contains("type")) return "an outbound message needs a type";
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

void ConsoleChannel::print_turn(const std::string& user, const std::string& state, bool ok, const std::string& error) {
  std::lock_guard lock(mutex_);
  if (format_ == Format::json) {
    json line{{"event", "turn"}, {"phone", user}, {"state", state}, {"ok", ok}};
    if (!ok) line["error"] = error;
    out_ << line.dump() << "\n";
  } else if (!ok) {
    out_ << "     (error en el flujo: " << error << ")\n";
  } else {
    out_ << "     [" << state << "]\n";
  }
  out_.flush();
}

}  // namespace charla::console
