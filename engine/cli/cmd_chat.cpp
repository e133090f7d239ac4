// `charla chat`: talk to a flow in the terminal through the same engine and store
// as the server. When stdin is not a terminal it speaks JSON lines, so scripts and
// CI can drive flows: one line in per customer message, one JSON object out per
// outbound message and per finished turn.
//
// What chat accepts is what serve would: outbound messages pass WhatsApp's limits
// (a 23-character button title fails the turn here too). An input line that is a
// JSON object is a structured message ({"text":"2"}, {"button":"id"}, {"list":"id"},
// {"type":"location",...}) or {"wait":"10m"}, which moves the fake clock of
// `--now` and fires the timers due meanwhile; timer turns are marked in the output.
#include "cli/chat_clock.hpp"
#include "cli/commands.hpp"
#include "cli/common_flags.hpp"
#include "console/console_channel.hpp"
#include "log/log.hpp"
#include "lua/duration.hpp"
#include "lua/local_time.hpp"
#include "whatsapp/protocol/message_builder.hpp"

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
  std::string now;  // fake clock start, "2026-03-02T09:00:00-03:00"; empty: the system clock
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

std::optional<std::int64_t> fake_start(const ChatFlags& flags) {
  if (flags.now.empty()) return std::nullopt;
  const auto ms = lua::detail::parse_local(flags.now, nullptr);
  if (!ms)
    throw std::invalid_argument("--now: '" + flags.now +
                                "' is not a time such as 2026-03-02T09:00:00-03:00 (without an offset it is UTC)");
  return ms;
}

// {"wait": "10m"} (or seconds as a number): the duration in ms, or nullopt.
std::optional<std::int64_t> wait_ms(const nlohmann::json& wait) {
  if (wait.is_string()) return lua::detail::parse_duration_ms(wait.get<std::string>());
  if (wait.is_number() && wait.get<double>() >= 0 && wait.get<double>() < 1e9)
    return static_cast<std::int64_t>(wait.get<double>() * 1000);
  return std::nullopt;
}

std::string iso_utc(std::int64_t ms) { return lua::detail::to_local(nullptr, ms).iso(); }

int run_chat(const ChatFlags& flags) {
  auto services = make_services(load_config(flags.common), fake_start(flags));
  auto& engine = *services->engine;
  const bool interactive = !flags.json && isatty(STDIN_FILENO);
  console::ConsoleChannel console(*services->store,
                                  interactive ? console::ConsoleChannel::Format::terminal
                                              : console::ConsoleChannel::Format::json,
                                  std::cout);
  console.set_outbound_check([](const nlohmann::json& m) { return whatsapp::validate(m); });
  TurnWaiter waiter;
  TimerTurnCounter timer_turns;
  engine.add_channel(console);
  engine.add_turn_observer([&](const runtime::TurnReport& r) {
    if (r.channel != "console") return;
    console.print_turn(r.user, r.state, r.ok, r.error, r.timer);
    if (r.timer) timer_turns.add();
    waiter.committed(r.inbox_seqs);
  });
  engine.start();
  if (interactive)
    std::cout << "charla chat: flow '" << engine.default_flow() << "', phone " << flags.phone
              << ". Type a message; a number picks an option; Ctrl-D ends.\n";

  const auto conversation = runtime::conversation_key("console", "local", flags.phone);
  const auto budget = std::chrono::milliseconds(services->config.lua.turn_time_budget_ms);
  std::string line;
  int line_no = 0;
  // A bad structured line: on a terminal say so and go on; a script stops (exit 2).
  auto refuse = [&](const std::string& why) {
    std::cerr << "charla: input line " << line_no << ": " << why << "\n";
    return interactive ? 0 : 2;
  };
  while (true) {
    if (interactive) std::cout << "tú> " << std::flush;
    if (!std::getline(std::cin, line)) break;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    nlohmann::json payload;
    const auto now_ms = services->engine_clock().now_ms();
    // A line that is a JSON object is structured input; anything else (even "{hola}") is text.
    if (auto input = nlohmann::json::parse(line, nullptr, false); line[0] == '{' && input.is_object()) {
      if (input.contains("wait")) {
        const auto ms = wait_ms(input["wait"]);
        if (input.size() != 1 || !ms) {
          if (int code = refuse("{\"wait\": DURATION} takes a duration such as \"10m\", \"90s\", \"2h\", \"1d\" or seconds")) return code;
          continue;
        }
        if (!services->fake_clock) {
          if (int code = refuse("{\"wait\": ...} needs a fake clock: start chat with --now 2026-03-02T09:00:00-03:00")) return code;
          continue;
        }
        if (auto error = advance_fake_clock(*services->fake_clock, engine, timer_turns, *ms, budget); !error.empty()) {
          std::cerr << "charla: " << error << "\n";
          return 1;
        }
        const auto at = services->fake_clock->now_ms();
        console.print_event({{"event", "clock"}, {"now_ms", at}, {"now", iso_utc(at)}, {"note", "reloj: " + iso_utc(at)}});
        continue;
      }
      std::string error;
      payload = console.message_from_json(flags.phone, flags.name, input, now_ms, error);
      if (!error.empty()) {
        if (int code = refuse(error)) return code;
        continue;
      }
    } else {
      payload = console.message_from_line(flags.phone, flags.name, line, now_ms);
    }
    runtime::InboundEvent e;
    e.conversation = conversation;
    e.channel = "console";
    e.account = "local";
    e.user = flags.phone;
    e.name = flags.name;
    e.payload = std::move(payload);
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
  cmd->add_option("--now", flags->now,
                  "run on a fake clock starting at this time (2026-03-02T09:00:00-03:00); {\"wait\":\"10m\"} lines move it");
  cmd->callback([flags, &chosen] {
    chosen = [flags] { return run_guarded([&] { return run_chat(*flags); }); };
  });
}

}  // namespace charla::cli
