// `charla chat`: talk to a flow in the terminal through the same engine and store
// as the server. When stdin is not a terminal it speaks JSON lines, so scripts and
// CI can drive flows: one line in per customer message, one JSON object out per
// outbound message and per finished turn.
#include "cli/commands.hpp"
#include "cli/common_flags.hpp"
#include "console/console_channel.hpp"
#include "log/log.hpp"

#include <condition_variable>
#include <iostream>
#include <mutex>
#include <set>
#include <unistd.h>

namespace charla::cli {

namespace {

struct ChatFlags {
  CommonFlags common;
  std::string phone = "5215550000001";
  std::string name = "Cliente";
  bool json = false;
};

// Waits for each line's turn to commit before reading the next line, so a number
// typed next can refer to the buttons the turn just showed.
class TurnWaiter {
 public:
  void accepted(std::uint64_t seq, const std::string& error) {
    std::lock_guard lock(mutex_);
    if (!error.empty()) failed_ = error;
    last_accepted_ = seq;
    cv_.notify_all();
  }
  void committed(const std::vector<std::uint64_t>& seqs) {
    std::lock_guard lock(mutex_);
    done_.insert(seqs.begin(), seqs.end());
    cv_.notify_all();
  }
  // Returns an error text if the message could not be stored.
  std::string wait_for_turn() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return !failed_.empty() || last_accepted_ != 0; });
    if (!failed_.empty()) return std::exchange(failed_, {});
    auto seq = std::exchange(last_accepted_, 0);
    cv_.wait(lock, [&] { return done_.count(seq) > 0; });
    done_.erase(seq);
    return {};
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::uint64_t last_accepted_ = 0;
  std::string failed_;
  std::set<std::uint64_t> done_;
};

int run_chat(const ChatFlags& flags) {
  auto services = make_services(load_config(flags.common));
  auto& engine = *services->engine;
  const bool interactive = !flags.json && isatty(STDIN_FILENO);
  console::ConsoleChannel console(*services->store,
                                  interactive ? console::ConsoleChannel::Format::terminal
                                              : console::ConsoleChannel::Format::json,
                                  std::cout);
  TurnWaiter waiter;
  engine.add_channel(console);
  engine.add_turn_observer([&](const runtime::TurnReport& r) {
    if (r.channel != "console") return;
    console.print_turn(r.user, r.state, r.ok, r.error);
    waiter.committed(r.inbox_seqs);
  });
  engine.start();
  if (interactive)
    std::cout << "charla chat: flow '" << engine.default_flow() << "', phone " << flags.phone
              << ". Type a message; a number picks an option; Ctrl-D ends.\n";

  const auto conversation = runtime::conversation_key("console", "local", flags.phone);
  std::string line;
  while (true) {
    if (interactive) std::cout << "tú> " << std::flush;
    if (!std::getline(std::cin, line)) break;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    runtime::InboundEvent e;
    e.conversation = conversation;
    e.channel = "console";
    e.account = "local";
    e.user = flags.phone;
    e.name = flags.name;
    e.payload = console.message_from_line(flags.phone, flags.name, line, services->clock.now_ms());
    e.accepted_at = std::chrono::steady_clock::now();
    engine.accept({std::move(e)}, [&](const runtime::AcceptResult& r) {
      waiter.accepted(r.seqs.empty() ? 0 : r.seqs.front(), r.error);
    });
    if (auto error = waiter.wait_for_turn(); !error.empty()) {
      std::cerr << "charla: message not stored: " << error << "\n";
      return 1;
    }
  }
  engine.stop();
  services->store->close();
  return 0;
}

}  // namespace

void add_chat_command(CLI::App& app, Command& chosen) {
  auto flags = std::make_shared<ChatFlags>();
  auto* cmd = app.add_subcommand("chat", "Talk to a flow in the terminal (JSON lines when stdin is not a terminal)");
  add_common_flags(*cmd, flags->common);
  cmd->add_option("--phone", flags->phone, "the customer's phone number in this chat")->capture_default_str();
  cmd->add_option("--name", flags->name, "the customer's profile name")->capture_default_str();
  cmd->add_flag("--json", flags->json, "speak JSON lines even on a terminal");
  cmd->callback([flags, &chosen] {
    chosen = [flags] { return run_guarded([&] { return run_chat(*flags); }); };
  });
}

}  // namespace charla::cli
