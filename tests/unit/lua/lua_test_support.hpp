#pragma once
// Helpers for the Lua host tests: flow files written into a fresh temp directory, a
// host on a private io_context, and turns run to completion.
#include "lua/flow_host.hpp"
#include "support/temp_dir.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <filesystem>
#include <optional>
#include <string>

namespace charla::lua::test {

using nlohmann::json;

using charla::test::TempDir;

inline HostOptions small_options() {
  HostOptions o;
  o.instruction_budget = 2'000'000;
  o.memory_limit = 32u << 20;
  return o;
}

inline TurnInput message_turn(const std::string& flow, const std::string& state, const std::string& text,
                              json data = json::object(), const std::string& id = "wamid.1") {
  TurnInput in;
  in.turn_id = 1;
  in.conversation = "whatsapp:123:5215550001";
  in.channel = "whatsapp";
  in.phone = "5215550001";
  in.name = "Ana";
  in.flow = flow;
  in.state = state;
  in.data = std::move(data);
  in.event = {{"kind", "message"},
              {"msg", {{"id", id}, {"type", "text"}, {"text", text}, {"from", "5215550001"}, {"raw", {{"x", 1}}}}}};
  in.now_ms = 1'700'000'000'000;
  return in;
}

inline TurnInput timer_turn(const std::string& flow, const std::string& state, const std::string& name,
                            json payload = nullptr, json data = json::object()) {
  TurnInput in = message_turn(flow, state, "", std::move(data));
  in.event = {{"kind", "timer"}, {"name", name}, {"payload", std::move(payload)}};
  return in;
}

// A host with its own io_context and temp directory for flow files.
struct Harness {
  explicit Harness(HostOptions options = small_options()) : host(io, options) {}

  const FlowInfo& load(const std::string& file, const std::string& text) { return host.load_flow(dir.write(file, text)); }

  // Runs a turn; drives the io_context until Done is called.
  TurnResult run(TurnInput input) {
    std::optional<TurnResult> result;
    host.run_turn(std::move(input), [&](TurnResult r) { result = std::move(r); });
    while (!result) {
      io.restart();
      if (io.run_one() == 0) break;
    }
    REQUIRE(result.has_value());
    return std::move(*result);
  }

  std::vector<std::string> texts(const TurnResult& r) const {
    std::vector<std::string> out;
    for (const auto& m : r.outbound) out.push_back(m.value("text", ""));
    return out;
  }

  TempDir dir;
  boost::asio::io_context io;
  FlowHost host;
};

// The message of the FlowError that loading `text` as `file` must raise.
inline std::string load_error(Harness& h, const std::string& file, const std::string& text) {
  try {
    h.load(file, text);
  } catch (const FlowError& e) {
    return e.what();
  }
  FAIL("expected a FlowError");
  return {};
}

}  // namespace charla::lua::test
