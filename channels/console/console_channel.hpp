#pragma once
// The terminal channel behind `charla chat`: prints outbound messages (human-readable
// on a terminal, one JSON object per line otherwise) and turns typed lines into
// inbound messages, so that typing "2" picks the second button or row of the last
// interactive message, as tapping it would on WhatsApp.
#include "runtime/channel.hpp"
#include "store/store.hpp"

#include <functional>
#include <map>
#include <mutex>
#include <ostream>

namespace charla::console {

class ConsoleChannel final : public runtime::Channel {
 public:
  enum class Format { terminal, json };

  ConsoleChannel(store::Store& store, Format format, std::ostream& out);

  using OutboundCheck = std::function<std::optional<std::string>(const nlohmann::json&)>;
  // Limits of the channel the flow will really speak on (WhatsApp's, set by `charla
  // chat`), so a message serve would refuse fails in chat too. Before the engine starts.
  void set_outbound_check(OutboundCheck check) { outbound_check_ = std::move(check); }

  std::string name() const override { return "console"; }
  std::optional<std::string> validate(const nlohmann::json& message) const override;
  void dispatch(std::vector<runtime::OutboundRow> rows) override;

  // The msg table for a typed line from `user`.
  nlohmann::json message_from_line(const std::string& user, const std::string& name, const std::string& line,
                                   std::int64_t now_ms);
  // The msg table for a structured input line (a JSON object): {"text": "2"} (a text,
  // never a pick), {"button": "id or title"}, {"list": "id or title"}, or a message
  // with its own "type" ({"type": "location", "location": {...}}). Empty object and
  // `error` set when the object is none of these.
  nlohmann::json message_from_json(const std::string& user, const std::string& name, const nlohmann::json& input,
                                   std::int64_t now_ms, std::string& error);
  // Prints the end of a turn (JSON mode: {"event":"turn",...}); `timer`: a timer fired it.
  void print_turn(const std::string& user, const std::string& state, bool ok, const std::string& error,
                  bool timer = false);
  // Prints a line of its own (JSON mode: the object without "note"; terminal: its "note").
  void print_event(const nlohmann::json& event);

 private:
  void print(const runtime::OutboundRow& row);

  store::Store& store_;
  Format format_;
  std::ostream& out_;
  std::mutex mutex_;
  std::map<std::string, nlohmann::json> last_choices_;  // user -> options of the last interactive message
  std::uint64_t next_id_ = 1;
  OutboundCheck outbound_check_;
};

}  // namespace charla::console
