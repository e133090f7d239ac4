// The sandbox: no way out, a per-turn instruction budget that pcall cannot swallow, a
// memory cap that fails the turn and leaves the host working.
#include "lua_test_support.hpp"

#include <chrono>

using namespace charla::lua;
using namespace charla::lua::test;
using Catch::Matchers::Contains;

namespace {

// A flow whose message handler runs `body` under pcall and says "ok|<result>" or "err|<error>".
std::string probe_flow(const std::string& body) {
  return "return { name = 'probe', initial = 'A', states = { A = { message = function(ctx, msg)\n"
         "  local ok, res = pcall(function()\n" + body + "\n  end)\n"
         "  ctx:say((ok and 'ok|' or 'err|') .. tostring(res))\n"
         "end } } }\n";
}

std::string probe(Harness& h, const std::string& body) {
  h.load("probe.lua", probe_flow(body));
  const TurnResult r = h.run(message_turn("probe", "A", "x"));
  REQUIRE(r.ok);
  REQUIRE(r.outbound.size() == 1);
  return r.outbound[0]["text"].get<std::string>();
}

const char* kLoopFlow = R"(return { name = "loop", initial = "A", states = { A = {
  message = function(ctx, msg)
    if msg.text == "loop" then while true do end end
    if msg.text == "pcall" then
      pcall(function() while true do end end)
      ctx:say("survived pcall")
    end
    if msg.text == "xpcall" then
      xpcall(function() while true do end end, function(e) while true do end end)
      ctx:say("survived xpcall")
    end
    if msg.text == "coroutine" then
      for i = 1, 100 do coroutine.resume(coroutine.create(function() while true do end end)) end
      ctx:say("survived coroutine")
    end
    if msg.text == "error-in-pcall" then
      local ok = pcall(error, "x")
      return ctx:say("caught " .. tostring(ok))
    end
    ctx:say("fine")
  end } } })";

}  // namespace

TEST_CASE("os, io, debug, package and file loaders are absent", "[lua][sandbox]") {
  Harness h;
  CHECK_THAT(probe(h, "os.execute('touch /tmp/charla-pwned')"), Contains("err|") && Contains("os"));
  CHECK_THAT(probe(h, "return io.open('/etc/passwd')"), Contains("err|") && Contains("io"));
  CHECK_THAT(probe(h, "return debug.getinfo(1)"), Contains("err|") && Contains("debug"));
  CHECK_THAT(probe(h, "return package.loadlib('x', 'y')"), Contains("err|") && Contains("package"));
  CHECK_THAT(probe(h, "return dofile('/etc/passwd')"), Contains("err|") && Contains("dofile"));
  CHECK_THAT(probe(h, "return loadfile('/etc/passwd')"), Contains("err|") && Contains("loadfile"));
  CHECK_THAT(probe(h, "return string.dump(print)"), Contains("err|") && Contains("dump"));
  CHECK_THAT(probe(h, "return require('../x')"), Contains("err|") && Contains("module names"));
  CHECK_THAT(probe(h, "return require('/etc/passwd')"), Contains("err|"));
  CHECK(probe(h, "return type(os) .. type(io) .. type(debug) .. type(package)") == "ok|nilnilnilnil");
}

TEST_CASE("load accepts text only", "[lua][sandbox]") {
  Harness h;
  // string.dump is gone, so forge a bytecode header: it must be refused, not parsed.
  CHECK_THAT(probe(h, "local f, err = load('\\27Lua\\84\\0\\25\\147\\13\\10\\26\\10') return tostring(f) .. ' ' .. err"),
             Contains("ok|nil") && Contains("binary"));
  CHECK_THAT(probe(h, "local f, err = load('\\27Lua', 'x', 'b') return tostring(f) .. ' ' .. err"),
             Contains("ok|nil") && Contains("binary"));
  CHECK(probe(h, "return load('return 1 + 1')()") == "ok|2");
}

TEST_CASE("collectgarbage only counts; __gc and the string metatable are out of reach", "[lua][sandbox]") {
  Harness h;
  CHECK(probe(h, "return type(collectgarbage('count'))") == "ok|number");
  CHECK_THAT(probe(h, "collectgarbage()"), Contains("err|") && Contains("not available"));
  CHECK_THAT(probe(h, "collectgarbage('stop')"), Contains("err|"));
  CHECK_THAT(probe(h, "setmetatable({}, { __gc = function() while true do end end })"), Contains("err|") && Contains("__gc"));
  CHECK(probe(h, "return getmetatable('')") == "ok|false");
  CHECK(probe(h, "return getmetatable(_ENV)") == "ok|false");
  CHECK(probe(h, "return ('abc'):upper()") == "ok|ABC");
}

TEST_CASE("an endless loop is stopped by the budget and the host keeps working", "[lua][sandbox][budget]") {
  HostOptions o = small_options();
  o.instruction_budget = 200'000;
  Harness h(o);
  h.load("loop.lua", kLoopFlow);
  const TurnResult bad = h.run(message_turn("loop", "A", "loop"));
  CHECK_FALSE(bad.ok);
  CHECK(bad.error_kind == "budget");
  CHECK_THAT(bad.error, Contains("loop.lua:3:") && Contains("instruction budget exceeded (200000 instructions)"));
  CHECK(bad.outbound.empty());
  CHECK(bad.instructions >= 200'000);

  const TurnResult good = h.run(message_turn("loop", "A", "hello"));
  CHECK(good.ok);
  CHECK(h.texts(good) == std::vector<std::string>{"fine"});
}

TEST_CASE("pcall, xpcall and coroutines cannot swallow the budget", "[lua][sandbox][budget]") {
  HostOptions o = small_options();
  o.instruction_budget = 100'000;
  Harness h(o);
  h.load("loop.lua", kLoopFlow);
  for (const char* how : {"pcall", "xpcall", "coroutine"}) {
    INFO(how);
    const TurnResult r = h.run(message_turn("loop", "A", how));
    CHECK_FALSE(r.ok);
    CHECK(r.error_kind == "budget");
    CHECK(r.outbound.empty());
  }
  // An ordinary error is still caught by pcall.
  const TurnResult r = h.run(message_turn("loop", "A", "error-in-pcall"));
  CHECK(r.ok);
  CHECK(h.texts(r) == std::vector<std::string>{"caught false"});
}

TEST_CASE("a memory bomb fails the turn with 'memory' and the host recovers", "[lua][sandbox][memory]") {
  HostOptions o = small_options();
  o.memory_limit = 8u << 20;
  o.instruction_budget = 100'000'000;
  Harness h(o);
  h.load("bomb.lua", R"(return { name = "bomb", initial = "A", states = { A = {
    message = function(ctx, msg)
      if msg.text == "bomb" then
        local t = {}
        for i = 1, 1e9 do t[i] = string.rep("x", 4096) .. i end
      elseif msg.text == "pcall-bomb" then
        local ok, err = pcall(function() local s = "x" while true do s = s .. s end end)
        ctx:say("swallowed " .. tostring(err))
      elseif msg.text == "rep" then
        local s = string.rep("x", 1 << 30)
      end
      ctx.data.n = (ctx.data.n or 0) + 1
      ctx:say("ok")
    end } } })");
  const std::size_t baseline = h.host.memory_in_use();
  for (const char* how : {"bomb", "pcall-bomb", "rep"}) {
    INFO(how);
    const TurnResult r = h.run(message_turn("bomb", "A", how));
    CHECK_FALSE(r.ok);
    CHECK(r.error_kind == "memory");
    CHECK(r.outbound.empty());
    CHECK(h.host.memory_in_use() < baseline + (1u << 20));  // garbage collected after the turn
    const TurnResult next = h.run(message_turn("bomb", "A", "hello", {{"n", 1}}));
    CHECK(next.ok);
    CHECK(next.data == json{{"n", 2}});
  }
}

TEST_CASE("a failing turn does not disturb other conversations", "[lua][sandbox]") {
  HostOptions o = small_options();
  o.instruction_budget = 100'000;
  Harness h(o);
  h.load("loop.lua", kLoopFlow);
  TurnInput a = message_turn("loop", "A", "loop");
  a.conversation = "a";
  TurnInput b = message_turn("loop", "A", "hello");
  b.conversation = "b";
  CHECK_FALSE(h.run(std::move(a)).ok);
  const TurnResult rb = h.run(std::move(b));
  CHECK(rb.ok);
  CHECK(h.texts(rb) == std::vector<std::string>{"fine"});
}

TEST_CASE("library tables are read-only and each flow has its own globals", "[lua][sandbox][isolation]") {
  Harness h;
  h.dir.write("lazy.lua", "function lazy_helper() return 'lazy' end\nreturn { v = lazy_helper() }\n");
  h.load("a.lua", R"lua(helper = function() return "a's helper" end
return { name = "a", initial = "A", states = { A = { message = function(ctx, msg)
  local attempts = {
    function() string.match = function() return 1 end end,
    function() rawset(string, "match", function() return 1 end) end,
    function() table.insert = nil end,
    function() math.floor = nil end,
    function() setmetatable(_G, { __index = function() return 1 end }) end,
    function() setmetatable(string, {}) end,
    function() counter = (counter or 0) + 1 end,
    function() _G.counter = 1 end,
    function() rawset(_G, "counter", 1) end,
    function() return load("x = 1")() end,
  }
  for _, attempt in ipairs(attempts) do
    local ok, err = pcall(attempt)
    ctx:say(tostring(ok) .. " " .. tostring(err))
  end
  local names = 0
  for k in pairs(string) do names = names + 1 end
  ctx:say(helper() .. " " .. tostring(getmetatable(string)) .. " " .. tostring(names > 10) .. " " ..
          load("return string.upper('ok')")() .. " " .. require("lazy").v)
end } } })lua");
  h.load("b.lua", R"lua(return { name = "b", initial = "A", states = { A = { message = function(ctx, msg)
  ctx:say(tostring(("abc"):match("b")) .. " " .. tostring(string.match("abc", "c")) .. " " .. tostring(helper) ..
          " " .. tostring(counter) .. " " .. type(table.insert) .. " " .. type(math.floor) .. " " ..
          tostring(getmetatable(_G)) .. " " .. tostring(lazy_helper) .. " " .. tostring(x))
end } } })lua");
  const TurnResult a = h.run(message_turn("a", "A", "attack"));
  INFO(a.error);
  REQUIRE(a.ok);
  const auto t = h.texts(a);
  REQUIRE(t.size() == 11);
  CHECK_THAT(t[0], Contains("false") && Contains("a.lua:4: cannot assign string.match: the string library is "
                                                 "shared by every flow and read-only"));
  CHECK_THAT(t[1], Contains("false") && Contains("rawset: string is read-only"));
  CHECK_THAT(t[2], Contains("false") && Contains("cannot assign table.insert"));
  CHECK_THAT(t[3], Contains("false") && Contains("cannot assign math.floor"));
  CHECK_THAT(t[4], Contains("false") && Contains("cannot change a protected metatable"));
  CHECK_THAT(t[5], Contains("false") && Contains("cannot change a protected metatable"));
  CHECK_THAT(t[6], Contains("false") && Contains("a.lua:10: assignment to global 'counter' during a turn"));
  CHECK_THAT(t[7], Contains("false") && Contains("assignment to global 'counter' during a turn"));
  CHECK_THAT(t[8], Contains("false") && Contains("rawset: the flow's globals"));
  CHECK_THAT(t[9], Contains("false") && Contains("cannot assign global 'x'"));
  CHECK(t[10] == "a's helper false true OK lazy");

  const TurnResult b = h.run(message_turn("b", "A", "look"));
  REQUIRE(b.ok);
  CHECK(h.texts(b) == std::vector<std::string>{"b c nil nil function function false nil nil"});
}

TEST_CASE("ctx.data is bounded in size and work, shared tables included", "[lua][sandbox][data]") {
  Harness h;
  h.load("d.lua", R"lua(return { name = "d", initial = "A", states = { A = { message = function(ctx, msg)
  if msg.text == "expand" then
    local t = { 1 }
    for i = 1, 24 do t = { t, t } end
    ctx.data.x = t
  elseif msg.text == "big" then
    ctx.data.s = string.rep("x", 1100000)
  elseif msg.text == "cycle" then
    local t = {}
    t.self = t
    ctx.data.c = t
  elseif msg.text == "shared" then
    local s = { 1, 2 }
    ctx.data.a, ctx.data.b = s, s
  end
  ctx:say("done")
end } } })lua");
  const auto start = std::chrono::steady_clock::now();
  TurnResult r = h.run(message_turn("d", "A", "expand"));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
  CHECK_FALSE(r.ok);
  CHECK(r.error_kind == "data");
  CHECK_THAT(r.error, Contains("ctx.data.x[1][1]") && Contains("larger than 1048576 bytes as JSON"));

  r = h.run(message_turn("d", "A", "big"));
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.error, Contains("ctx.data.s: the value is larger than 1048576 bytes as JSON"));

  r = h.run(message_turn("d", "A", "cycle"));
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.error, Contains("ctx.data.c.self: cyclic tables cannot be stored"));

  r = h.run(message_turn("d", "A", "shared"));
  REQUIRE(r.ok);
  CHECK(r.data == json{{"a", {1, 2}}, {"b", {1, 2}}});
}
