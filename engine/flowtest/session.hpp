#pragma once
// One conversation under test: the real runtime::Engine (Lua host, turn, commit and
// timer path of `serve`) on a temporary LMDB store, a ManualClock that only moves
// when the test says so, scripted plugins and a channel that keeps what the flow sent.
//
// Invariants:
//  - Every call returns only after the turns it caused have committed (or a bounded
//    wait ran out, reported as an error): a test reads a settled conversation.
//  - advance() moves the clock to each due timer in turn and fires it before moving
//    on, so timers fire in due order and see the time they were due at.
//  - Not thread-safe: one test thread drives a Session.
#include "flowtest/channel_profile.hpp"
#include "flowtest/script.hpp"
#include "flowtest/temp_dir.hpp"
#include "runtime/clock.hpp"
#include "runtime/conversation.hpp"
#include "runtime/engine.hpp"
#include "store/store.hpp"

#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace charla::flowtest {

struct SessionOptions {
  std::filesystem::path flow;         // the flow file under test
  std::string phone = "5215550000001";
  std::string name = "Cliente";
  std::int64_t now_ms = 0;            // start of the fake clock
  bool llm = true, http = true;       // register the scripted ctx:llm / ctx:http
  nlohmann::json plugins = nlohmann::json::object();  // further real plugins by name (config blocks)
  nlohmann::json settings;            // the flow's ctx.settings (as config flow_settings gives it); null: none
  std::chrono::milliseconds turn_wait{30'000};         // longest wait for one turn to commit
};

// What one action (a message, a clock advance) caused.
struct Step {
  std::vector<nlohmann::json> replies;        // outbound messages, in order
  std::vector<std::string> errors;            // failed turns (flow errors, refused replies)
  std::vector<PluginCallRecord> calls;        // plugin calls made, in order
  std::vector<std::string> timers;            // timers that fired, in order
  std::vector<nlohmann::json> emitted;        // the flow's ctx:emit events {name, payload}, in order
};

class Session {
 public:
  // Loads the flow and starts the engine; throws std::runtime_error / lua::FlowError.
  Session(SessionOptions options, ChannelProfile profile);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Inbound message objects in the channel's wire format, sent at once (several:
  // double texting, merged by the flow's debounce as in serve). id, from and
  // timestamp are filled in.
  Step send(std::vector<nlohmann::json> messages);
  // Moves the fake clock by `ms`, firing every timer that falls due on the way.
  Step advance(std::int64_t ms);
  // Forgets the conversation (as the admin reset): the next message starts afresh.
  void reset();

  runtime::Conversation record() const;   // the stored conversation (empty if none)
  std::int64_t now_ms() const { return clock_.now_ms(); }
  Script& script() { return *script_; }
  const std::string& conversation() const { return conversation_; }

 private:
  void observe(const runtime::TurnReport& report);
  // Waits until `done` holds over the reports seen so far; false on timeout.
  bool wait_reports(const std::function<bool(const std::vector<runtime::TurnReport>&)>& done);
  Step collect(std::vector<runtime::TurnReport> reports);
  std::size_t due_timers() const;
  std::optional<std::int64_t> next_timer_due() const;

  SessionOptions options_;
  ChannelProfile profile_;
  TempDir dir_;
  runtime::ManualClock clock_;
  std::shared_ptr<Script> script_;
  std::uint64_t script_id_ = 0;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<class CapturingChannel> channel_;
  std::unique_ptr<runtime::Engine> engine_;
  std::string conversation_;
  std::uint64_t next_message_ = 1;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<runtime::TurnReport> reports_;  // not yet collected
};

}  // namespace charla::flowtest
