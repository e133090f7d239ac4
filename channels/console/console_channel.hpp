#pragma once
// The terminal channel behind `charla chat`: prints outbound messages (human-readable
// on a terminal, one JSON object per line otherwise) and turns typed lines into
// inbound messages, so that typing "2" picks the second button or row of the last
// interactive message, as tapping it would on WhatsApp.
#include "runtime/channel.hpp"
#include "store/store.hpp"

#include <map>
#include <mutex>
#include <ostream>

namespace charla::console {

class ConsoleChannel final : public runtime::Channel {
 public:
  enum class Format { terminal, json };

  ConsoleChannel(store::Store& store, Format format, std::ostream& out);

  std::string name() const override { return "console"; }
  std::optional<std::string> validate(const nlohmann::json& message) const override;
  void dispatch(std::vector<runtime::OutboundRow> rows) override;

  // The msg table for a typed line from `user`.
  nlohmann::json message_from_line(const std::string& user, const std::string& name, const std::string& line,
                                   std::int64_t now_ms);
  // Prints the end of a turn (JSON mode: {"event":"turn",...}).
  void print_turn(const std::string& user, const std::string& state, bool ok, const std::string& error);

 private:
  void print(const runtime::OutboundRow& row);

  store::Store& store_;
  Format format_;
  std::ostream& out_;
  std::mutex mutex_;
  std::map<std::string, nlohmann::json> last_choices_;  // user -> options of the last interactive message
  std::uint64_t next_id_ = 1;
};

}  // namespace charla::console
