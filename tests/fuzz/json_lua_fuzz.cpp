// Arbitrary JSON as a conversation's ctx.data (and as the message's raw payload),
// through a real turn in the flow sandbox: JSON -> Lua table (push_json) when the
// turn starts, Lua table -> JSON (to_json) when it commits. Invariants:
//  - no crash, hang or C++ exception escaping the host;
//  - a turn either succeeds with ctx.data that serialises as JSON, or fails with an
//    error message and kind;
//  - the conversion is stable: feeding the stored ctx.data back in stores it again
//    unchanged (what a conversation sees turn after turn).
// Input: JSON text; anything that does not parse is ignored. Non-objects are stored
// under the key "v" (ctx.data is always a table).
#include "lua/flow_host.hpp"

#include <boost/asio/io_context.hpp>

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

namespace {

using nlohmann::json;
using charla::lua::FlowHost;
using charla::lua::HostOptions;
using charla::lua::TurnInput;
using charla::lua::TurnResult;

void require(bool condition) {
  if (!condition) std::abort();  // a broken invariant is a finding
}

// The flow walks ctx.data and msg.raw (so every nested table is materialised and
// read from Lua), then leaves ctx.data as it found it.
constexpr const char* kFlow = R"lua(
local function walk(v, depth)
  if type(v) ~= "table" or depth > 64 then return 0 end
  local n = 0
  for _, x in pairs(v) do n = n + 1 + walk(x, depth + 1) end
  return n
end
return { name = 'rt', initial = 'A', states = { A = { message = function(ctx, msg)
  walk(ctx.data, 0)
  walk(msg.raw, 0)
end } } }
)lua";

struct Fixture {
  Fixture() {
    HostOptions o;
    o.instruction_budget = 5'000'000;
    o.memory_limit = 64u << 20;
    host.emplace(io, o);
    std::string dir = "/tmp/charla-fuzz-json-lua-XXXXXX";
    require(mkdtemp(dir.data()) != nullptr);
    flow_dir = dir;
    std::ofstream(flow_dir / "rt.lua") << kFlow;
    host->load_flow(flow_dir / "rt.lua");
  }
  ~Fixture() {
    std::error_code ec;
    std::filesystem::remove_all(flow_dir, ec);
  }

  TurnResult run(json data, json raw) {
    TurnInput in;
    in.turn_id = ++turn_id;
    in.conversation = "whatsapp:123:5215550001";
    in.channel = "whatsapp";
    in.phone = "5215550001";
    in.flow = "rt";
    in.state = "A";
    in.data = std::move(data);
    in.event = {{"kind", "message"},
                {"msg", {{"id", "wamid.1"}, {"type", "text"}, {"text", "x"}, {"from", "5215550001"},
                         {"raw", std::move(raw)}}}};
    in.now_ms = 1'700'000'000'000;
    std::optional<TurnResult> result;
    host->run_turn(std::move(in), [&](TurnResult r) { result = std::move(r); });
    for (int i = 0; !result && i < 1'000'000; ++i) {  // no plugin calls: finishes in a few steps
      io.restart();
      if (io.run_one() == 0) break;
    }
    require(result.has_value());
    return std::move(*result);
  }

  boost::asio::io_context io;
  std::optional<FlowHost> host;
  std::filesystem::path flow_dir;
  std::uint64_t turn_id = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture fixture;
  json value = json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return 0;
  json stored = value.is_object() ? value : json{{"v", value}};

  const TurnResult first = fixture.run(stored, value);
  if (!first.ok) {
    require(!first.error.empty() && !first.error_kind.empty());
    return 0;
  }
  require(first.data.is_object());
  (void)first.data.dump();  // throws (and so aborts) on invalid UTF-8

  const TurnResult second = fixture.run(first.data, first.data);
  require(second.ok);
  require(second.data == first.data);
  return 0;
}
