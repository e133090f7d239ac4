// Library functions that loop in C (the pattern matcher, string.rep, the table
// library, utf8 iterators, ...) are bounded by the turn's budget: each attack below
// ends its turn with a budget error within a bound, pcall cannot swallow it, and the
// host serves the next conversation.
#include "lua_test_support.hpp"

#include <chrono>

using namespace charla::lua;
using namespace charla::lua::test;
using Catch::Matchers::Contains;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

// Each attack runs under pcall: a budget error must end the turn anyway.
const char* kAttacks = R"lua(local attacks = {
  backtrack_find = function()
    return string.rep("a", 200000):find(string.rep("a?", 60) .. string.rep("a", 60) .. "b")
  end,
  backtrack_match = function()
    return string.rep("abcdefghij", 40):match("(%w+)%s*(%w+)%s*(%w+)@")
  end,
  backtrack_gmatch = function()
    for w in string.rep("a", 200000):gmatch(string.rep("a?", 60) .. string.rep("a", 60) .. "b") do end
  end,
  backtrack_gsub = function()
    return string.rep("a", 200000):gsub(string.rep("a?", 60) .. string.rep("a", 60) .. "b", "x")
  end,
  plain_find = function()
    return string.rep("a", 4000000):find(string.rep("a", 2000000) .. "b", 1, true)
  end,
  balance = function() return string.rep("(", 1000000):find("%b()") end,
  long_set = function() return string.rep("a", 100000):find("[" .. string.rep("b", 50000) .. "]") end,
  rep_loop = function() for i = 1, 1e9 do local s = string.rep("x", 1000000) end end,
  move = function() return table.move({}, 1, 1 << 40, 2) end,
  insert = function() table.insert(setmetatable({}, { __len = function() return 1 << 40 end }), 1, "x") end,
  remove = function() table.remove(setmetatable({}, { __len = function() return 1 << 40 end }), 1) end,
  concat = function()
    return table.concat(setmetatable({}, { __index = function() return "x" end }), "", 1, 1 << 40)
  end,
  codes = function()
    local s, step = string.rep("\x80\x80\x80\x80", 2500000), utf8.codes("a")
    for i = 1, 1e9 do step(s, 0) end
  end,
  upper = function() local s = string.rep("a", 1000000) for i = 1, 1e9 do s:upper() end end,
  tonumber = function() local s = string.rep("1", 1000000) for i = 1, 1e9 do tonumber(s) end end,
  arith = function() local s = string.rep("1", 1000000) for i = 1, 1e9 do local x = s + 1 end end,
  gsub_loop = function() local s = string.rep("a", 100000) for i = 1, 1e9 do s:gsub("a", "bb") end end,
  load_reader = function()
    local piece = "--" .. string.rep("x", 1000000) .. "\n"
    return load(function() return piece end)
  end,
}
return { name = "atk", initial = "A", states = { A = { message = function(ctx, msg)
  local attack = attacks[msg.text]
  if attack then
    local ok, err = pcall(attack)
    return ctx:say("survived: " .. tostring(err))
  end
  ctx:say("served")
end } } })lua";

const char* const kAttackNames[] = {"backtrack_find", "backtrack_match", "backtrack_gmatch", "backtrack_gsub",
                                    "plain_find",     "balance",         "long_set",         "rep_loop",        "move",             "insert",
                                    "remove",         "concat",          "codes",            "upper",
                                    "tonumber",       "arith",           "gsub_loop",        "load_reader"};

// Runs `attack` as conversation "attacker", then a normal message as "next".
void run_attack(Harness& h, const std::string& attack, milliseconds bound, const std::string& expected_error) {
  INFO(attack);
  TurnInput in = message_turn("atk", "A", attack);
  in.conversation = "attacker";
  const auto start = steady_clock::now();
  const TurnResult r = h.run(std::move(in));
  const auto took = std::chrono::duration_cast<milliseconds>(steady_clock::now() - start);
  INFO("took " << took.count() << " ms: " << r.error);
  CHECK_FALSE(r.ok);
  CHECK(r.error_kind == "budget");
  CHECK_THAT(r.error, Contains(expected_error));
  CHECK(r.outbound.empty());
  CHECK(took < bound);

  TurnInput next = message_turn("atk", "A", "hello");
  next.conversation = "next";
  const TurnResult good = h.run(std::move(next));
  CHECK(good.ok);
  CHECK(h.texts(good) == std::vector<std::string>{"served"});
}

}  // namespace

TEST_CASE("library work is charged to the instruction budget", "[lua][sandbox][budget][cpu]") {
  HostOptions o = small_options();
  o.instruction_budget = 10'000'000;          // the default
  o.turn_time_budget = std::chrono::hours(1);  // out of the way: the instruction budget must stop them
  Harness h(o);
  h.load("atk.lua", kAttacks);
  for (const char* attack : kAttackNames) run_attack(h, attack, milliseconds(3000), "instruction budget");
}

TEST_CASE("the wall-clock turn budget holds inside library calls", "[lua][sandbox][budget][cpu]") {
  HostOptions o = small_options();
  o.instruction_budget = 1'000'000'000'000'000;  // out of the way: the clock must stop them
  o.turn_time_budget = milliseconds(1000);
  Harness h(o);
  h.load("atk.lua", kAttacks);
  for (const char* attack : {"backtrack_find", "backtrack_match", "plain_find", "balance", "rep_loop", "codes",
                             "upper", "gsub_loop", "load_reader"})
    run_attack(h, attack, milliseconds(3000), "turn time budget of 1000 ms");
}

TEST_CASE("the wall-clock turn budget holds for plain Lua too", "[lua][sandbox][budget][cpu]") {
  HostOptions o = small_options();
  o.instruction_budget = 1'000'000'000'000'000;
  o.turn_time_budget = milliseconds(1000);
  Harness h(o);
  h.load("spin.lua", R"lua(return { name = "atk", initial = "A", states = { A = { message = function(ctx, msg)
    if msg.text == "spin" then pcall(function() while true do end end) end
    ctx:say("served")
  end } } })lua");
  run_attack(h, "spin", milliseconds(3000), "spin.lua:2: turn time budget of 1000 ms exceeded");
}

TEST_CASE("a realistic pattern on a long message ends with the budget", "[lua][sandbox][budget][cpu]") {
  HostOptions o = small_options();
  o.instruction_budget = 10'000'000;
  o.turn_time_budget = milliseconds(1000);
  Harness h(o);
  h.load("re.lua", R"lua(return { name = "re", initial = "A", states = { A = { message = function(ctx, msg)
    local a, b, c = msg.text:match("(%w+)%s*(%w+)%s*(%w+)@")
    ctx:say(a and (a .. "|" .. b .. "|" .. c) or "no match")
  end } } })lua");
  const auto start = steady_clock::now();
  const TurnResult r = h.run(message_turn("re", "A", std::string(400, 'a')));
  CHECK(steady_clock::now() - start < milliseconds(3000));
  CHECK_FALSE(r.ok);
  CHECK(r.error_kind == "budget");
  CHECK_THAT(r.error, Contains("re.lua:2: pattern matching exceeded"));
  // The same pattern on an ordinary message works as before.
  const TurnResult ok = h.run(message_turn("re", "A", "hola ana maria@x"));
  REQUIRE(ok.ok);
  CHECK(h.texts(ok) == std::vector<std::string>{"hola|ana|maria"});
}

TEST_CASE("string.rep refuses a result over the memory cap before allocating", "[lua][sandbox][memory][cpu]") {
  HostOptions o = small_options();
  o.memory_limit = 8u << 20;
  Harness h(o);
  h.load("rep.lua", R"lua(return { name = "rep", initial = "A", states = { A = { message = function(ctx, msg)
    if msg.text == "big" then pcall(function() return string.rep("ab", 1 << 40, ",") end) end
    if msg.text == "empty" then  -- the stock string.rep loops n times copying nothing
      return ctx:say("[" .. string.rep("", math.maxinteger) .. string.rep("", math.maxinteger, "") .. "]")
    end
    ctx:say(string.rep("", 5) .. "|" .. string.rep("ab", 3, ",") .. "|" .. string.rep("x", 0) .. "|" .. ("y"):rep(2))
  end } } })lua");
  const auto start = steady_clock::now();
  const TurnResult r = h.run(message_turn("rep", "A", "big"));
  CHECK(steady_clock::now() - start < milliseconds(1000));
  CHECK_FALSE(r.ok);
  CHECK(r.error_kind == "memory");
  CHECK_THAT(r.error, Contains("rep.lua:2: string.rep: a result of 3298534883327 bytes is larger than the Lua memory "
                               "limit (8388608 bytes)"));
  const TurnResult ok = h.run(message_turn("rep", "A", "small"));
  REQUIRE(ok.ok);
  CHECK(h.texts(ok) == std::vector<std::string>{"|ab,ab,ab||yy"});
  const auto empty_start = steady_clock::now();
  const TurnResult empty = h.run(message_turn("rep", "A", "empty"));
  CHECK(steady_clock::now() - empty_start < milliseconds(1000));
  REQUIRE(empty.ok);
  CHECK(h.texts(empty) == std::vector<std::string>{"[]"});
}

TEST_CASE("the vendored matcher and table library behave like Lua's", "[lua][sandbox]") {
  Harness h;
  h.load("ok.lua", R"lua(return { name = "ok", initial = "A", states = { A = { message = function(ctx, msg)
    local out = {}
    local function add(...)
      local parts = table.pack(...)
      for i = 1, parts.n do parts[i] = tostring(parts[i]) end
      out[#out + 1] = table.concat(parts, ",", 1, parts.n)
    end
    add(("hello world"):find("o w"))
    add(("hello world"):find("l+"))
    add(("hello world"):find("o", 6, true))
    add(("key = value"):match("^(%w+)%s*=%s*(%w+)$"))
    add(("f(a(b)c)d"):match("%b()"))
    add(("THE (quick) fox"):find("%f[%a]%a+", 5))
    add(("abc"):match("()b()"))
    add(("hello hello"):match("(h%a+) %1"))
    local words = {}
    for k, v in ("a=1, b=2"):gmatch("(%w+)=(%w+)") do words[#words + 1] = k .. v end
    add(table.concat(words, ";"))
    add(("hello world"):gsub("o", "0"))
    add(("hello world"):gsub("(%w+)", "<%1>", 1))
    add(("$name is $age"):gsub("%$(%w+)", { name = "Ana", age = 30 }))
    add(("abc"):gsub("%w", function(c) return c:upper() .. "." end))
    add(("x"):gsub("", "-"))
    local t = { 5, 2, 8, 1 }
    table.sort(t)
    add(table.concat(t, " "))
    table.sort(t, function(a, b) return a > b end)
    add(table.concat(t, " "))
    table.insert(t, 1, 9)
    table.insert(t, 7)
    add(table.concat(t, " "), table.remove(t, 1), table.remove(t), #t)
    add(table.concat(table.move({ 1, 2, 3 }, 1, 3, 2), " "))
    add(table.unpack({ 1, 2, 3 }, 2))
    add(pcall(string.rep))
    add(pcall(string.find, "x", "[a"))
    ctx:say(table.concat(out, "\n"))
  end } } })lua");
  const TurnResult r = h.run(message_turn("ok", "A", "x"));
  REQUIRE(r.ok);
  CHECK(h.texts(r)[0] ==
        "5,7\n"
        "3,4\n"
        "8,8\n"
        "key,value\n"
        "(a(b)c)\n"
        "6,10\n"
        "2,3\n"
        "hello\n"
        "a1;b2\n"
        "hell0 w0rld,2\n"
        "<hello> world,1\n"
        "Ana is 30,2\n"
        "A.B.C.,3\n"
        "-x-,2\n"
        "1 2 5 8\n"
        "8 5 2 1\n"
        "9 8 5 2 1 7,9,7,4\n"
        "1 1 2 3\n"
        "2,3\n"
        "false,bad argument #1 to 'string.rep' (string expected, got no value)\n"
        "false,malformed pattern (missing ']')");
}
