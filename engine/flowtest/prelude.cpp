// The test API flow designers write against (charla.test, t:user, t:expect_reply, ...),
// in Lua on top of the Session primitives lua_api.cpp exposes (charla._session and the
// handle's _send/_advance/_record/_script/_reset). Expectations live here because they
// are table matching and message formatting, which Lua says in a few lines.
// Documented in docs/flows.md, "Testing flows".
#include "flowtest/prelude.hpp"

namespace charla::flowtest {

const char* const kPrelude = R"lua(
local charla = charla
local getinfo = debug.getinfo
local traceback = debug.traceback
debug = nil  -- the prelude needs it for file:line; test files do not

local PRELUDE = "=charla.test"
local Failure = {}
local tests = {}
charla._tests = tests
local current = nil      -- sessions opened by the running test

-- The first stack frame outside the prelude: the test line that made the call.
local function where()
  for level = 2, 60 do
    local info = getinfo(level, "Sl")
    if not info then break end
    if info.source ~= PRELUDE and info.what ~= "C" and (info.currentline or -1) > 0 then
      return info.short_src .. ":" .. info.currentline
    end
  end
  return "?"
end

local function fail(message, session)
  error(setmetatable({ message = message, where = where(), session = session }, Failure), 0)
end

function test(name, fn)
  if type(name) ~= "string" or type(fn) ~= "function" then
    error("test(name, fn): a name (string) and a function are expected", 2)
  end
  local info = getinfo(2, "Sl")
  tests[#tests + 1] = { name = name, fn = fn, where = info.short_src .. ":" .. (info.currentline or 0) }
end

---------------------------------------------------------------------------------------
-- Formatting
---------------------------------------------------------------------------------------
local function show(v, depth)
  depth = depth or 0
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) ~= "table" then return tostring(v) end
  if depth > 3 then return "{...}" end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local parts = {}
  local n = #v
  for i = 1, n do parts[#parts + 1] = show(v[i], depth + 1) end
  for _, k in ipairs(keys) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then
      parts[#parts + 1] = tostring(k) .. " = " .. show(v[k], depth + 1)
    end
  end
  return "{ " .. table.concat(parts, ", ") .. " }"
end
charla.show = show

local function choice_of(c)
  if type(c) == "string" then return { id = c, title = c } end
  if type(c) == "table" then return { id = c.id or c.title, title = c.title, description = c.description } end
  return { id = "?", title = "?" }
end

local function choices(m)
  local out = {}
  if m.type == "buttons" then
    for _, b in ipairs(m.buttons or {}) do out[#out + 1] = choice_of(b) end
  elseif m.type == "list" then
    for _, s in ipairs(m.sections or {}) do
      for _, r in ipairs(s.rows or {}) do
        local c = choice_of(r); c.list = true; out[#out + 1] = c
      end
    end
  end
  return out
end

local function titles(m)
  local out = {}
  for _, c in ipairs(choices(m)) do out[#out + 1] = c.title end
  return out
end

-- The text a reply is matched against: the body, a caption, a template's name.
local function text_of(m)
  return m.text or m.caption or m.name or ""
end

local function describe(m)
  local t = m.type or "?"
  if t == "text" then return m.text or "" end
  local s = "[" .. t .. "] " .. text_of(m)
  if t == "buttons" or t == "list" then s = s .. "  (" .. table.concat(titles(m), " | ") .. ")" end
  if t == "location" then s = s .. " " .. tostring(m.latitude) .. "," .. tostring(m.longitude) end
  if m.link or m.id then s = s .. " " .. tostring(m.link or m.id) end
  return s
end

local function indent(text, prefix)
  return prefix .. tostring(text):gsub("\n", "\n" .. prefix)
end

---------------------------------------------------------------------------------------
-- Session
---------------------------------------------------------------------------------------
local Session = {}
Session.__index = Session

function charla.test(flow, opts)
  if type(flow) ~= "string" then fail("charla.test(flow, opts): flow must be a file path") end
  if opts ~= nil and type(opts) ~= "table" then fail("charla.test(flow, opts): opts must be a table") end
  local path = flow:sub(1, 1) == "/" and flow or (charla._dir .. "/" .. flow)
  local ok, handle = pcall(charla._session, path, opts or {})
  if not ok then fail("cannot start flow " .. flow .. ": " .. tostring(handle)) end
  local s = setmetatable({ h = handle, flow = flow, log = {}, last = {}, used = {}, all = {} }, Session)
  if current then current[#current + 1] = s end
  return s
end

function Session:note(line) self.log[#self.log + 1] = line end

function Session:transcript()
  if #self.log == 0 then return "    (nothing yet)" end
  local first = math.max(1, #self.log - 40)
  local lines = {}
  if first > 1 then lines[1] = "    ... " .. (first - 1) .. " earlier lines" end
  for i = first, #self.log do lines[#lines + 1] = indent(self.log[i], "    ") end
  return table.concat(lines, "\n")
end

-- Records what one action caused; a failed turn or an unscripted plugin call fails the test here.
function Session:absorb(step)
  self.last, self.used, self.events, self.events_used = {}, {}, {}, {}
  for _, c in ipairs(step.calls) do
    local args = c.args
    if c.scripted then
      self:note("  [" .. c.method .. "] " .. show(args) .. " -> " .. c.answer)
    else
      self:note("  [" .. c.method .. "] " .. show(args) .. " -> NOT SCRIPTED")
    end
  end
  for _, name in ipairs(step.timers) do self:note("~ timer " .. name .. " fired") end
  for _, m in ipairs(step.replies) do
    if m.type ~= "mark_read" then
      self.last[#self.last + 1] = m
      self.all[#self.all + 1] = m
      self:note("bot: " .. describe(m))
    end
  end
  for _, e in ipairs(step.emitted or {}) do
    self.events[#self.events + 1] = e
    self:note("  (event " .. e.name .. " " .. show(e.payload) .. ")")
  end
  local state = self.h:_record().state
  if state then self:note("   (state " .. state .. ")") end
  for _, c in ipairs(step.calls) do
    if not c.scripted then
      fail("ctx:" .. c.method .. " was called with no scripted reply (add t:" .. c.method .. "_reply{...}):\n    " ..
           show(c.args), self)
    end
  end
  for _, e in ipairs(step.errors) do
    fail("the flow failed a turn (the customer got the fallback text): " .. e, self)
  end
end

function Session:send(message)
  if type(message) ~= "table" or type(message.type) ~= "string" then
    fail("t:send(message): a WhatsApp message table with a type is expected, e.g. " ..
         "{ type = \"location\", location = { latitude = -33.4, longitude = -70.6 } }", self)
  end
  self:note("user: [" .. message.type .. "] " .. show(message[message.type]))
  self:absorb(self.h:_send({ message }))
end

function Session:user(...)
  local texts = { ... }
  if #texts == 0 then fail("t:user(text, ...): at least one text is expected", self) end
  local messages = {}
  for i, text in ipairs(texts) do
    if type(text) ~= "string" then fail("t:user: text " .. i .. " is not a string", self) end
    messages[i] = { type = "text", text = { body = text } }
    self:note("user: " .. text)
  end
  self:absorb(self.h:_send(messages))
end

-- Taps a button or a list row of the last interactive reply, by title or id.
function Session:tap(what)
  local last
  for i = #self.all, 1, -1 do
    if self.all[i].type == "buttons" or self.all[i].type == "list" then last = self.all[i]; break end
  end
  if not last then fail("t:tap(" .. show(what) .. "): the bot has not sent buttons or a list yet", self) end
  for _, c in ipairs(choices(last)) do
    if c.title == what or c.id == what then
      self:note("user: (taps " .. show(c.title) .. ")")
      local message
      if c.list then
        message = { type = "interactive", interactive = { type = "list_reply",
          list_reply = { id = c.id, title = c.title, description = c.description } } }
      else
        message = { type = "interactive", interactive = { type = "button_reply",
          button_reply = { id = c.id, title = c.title } } }
      end
      return self:absorb(self.h:_send({ message }))
    end
  end
  local options = {}
  for _, c in ipairs(choices(last)) do options[#options + 1] = show(c.title) .. " (id " .. show(c.id) .. ")" end
  fail("t:tap(" .. show(what) .. "): no button or row with that title or id in the last " .. last.type ..
       "; its options are: " .. table.concat(options, ", "), self)
end

function Session:advance(duration)
  local ms = charla._duration(duration)
  if not ms then fail("t:advance(" .. show(duration) .. "): a duration like \"31m\", \"2h\", \"1d\" or seconds", self) end
  self:note("(" .. tostring(duration) .. " later)")
  self:absorb(self.h:_advance(ms))
end

function Session:reset()
  self.h:_reset()
  self.last, self.used, self.events, self.events_used = {}, {}, {}, {}
  self:note("(conversation reset)")
end

function Session:state() return self.h:_record().state end
function Session:data() return self.h:_record().data or {} end
function Session:replies() return self.last end
function Session:now() return self.h:_now() end

---------------------------------------------------------------------------------------
-- Expectations
---------------------------------------------------------------------------------------
local function reply_matches(m, spec)
  local text = text_of(m)
  if spec.type and m.type ~= spec.type then return false end
  if spec.contains and not text:find(spec.contains, 1, true) then return false end
  if spec.matches and not text:find(spec.matches) then return false end
  if spec.equals and text ~= spec.equals then return false end
  if spec.buttons then
    local got = titles(m)
    if m.type ~= "buttons" and m.type ~= "list" then return false end
    if #got ~= #spec.buttons then return false end
    for i, t in ipairs(spec.buttons) do if got[i] ~= t then return false end end
  end
  return true
end

local SPEC_KEYS = { contains = true, matches = true, equals = true, type = true, buttons = true }

function Session:expect_reply(spec)
  if type(spec) == "string" then spec = { contains = spec } end
  if type(spec) ~= "table" then fail("t:expect_reply{contains|matches|equals|type|buttons = ...} expects a table", self) end
  for k in pairs(spec) do
    if not SPEC_KEYS[k] then fail("t:expect_reply: unknown key '" .. tostring(k) .. "' (contains, matches, equals, type, buttons)", self) end
  end
  for i, m in ipairs(self.last) do
    if not self.used[i] and reply_matches(m, spec) then
      self.used[i] = true
      return m
    end
  end
  local lines = {}
  for i, m in ipairs(self.last) do
    lines[#lines + 1] = "    " .. i .. ". " .. describe(m):gsub("\n", "\n       ") .. (self.used[i] and "   (already matched)" or "")
  end
  local actual = #lines == 0 and "no reply was sent" or ("the replies were:\n" .. table.concat(lines, "\n"))
  fail("expected a reply " .. show(spec) .. "\n  but " .. actual, self)
end

function Session:expect_no_reply()
  local extra = {}
  for i, m in ipairs(self.last) do
    if not self.used[i] then extra[#extra + 1] = "    " .. describe(m) end
  end
  if #extra > 0 then fail("expected no (further) reply, but the bot sent:\n" .. table.concat(extra, "\n"), self) end
end

function Session:expect_state(name)
  local got = self.h:_record().state
  if got ~= name then fail("expected state " .. show(name) .. ", but the conversation is in " .. show(got), self) end
end

local function deep_equal(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b end
  for k, v in pairs(a) do if not deep_equal(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

-- A dotted path ("quote.premium") into ctx.data.
function Session:expect_data(key, value)
  local v = self.h:_record().data
  for part in tostring(key):gmatch("[^%.]+") do
    if type(v) ~= "table" then v = nil; break end
    v = v[part]
  end
  if not deep_equal(v, value) then
    fail("expected ctx.data." .. tostring(key) .. " = " .. show(value) .. ", but it is " .. show(v), self)
  end
end

function Session:expect_handoff(reason)
  local r = self.h:_record()
  if not r.paused then fail("expected a handoff to a human agent, but the bot still has the conversation", self) end
  if reason and not (r.handoff_reason or ""):find(reason, 1, true) then
    fail("expected a handoff reason containing " .. show(reason) .. ", but it is " .. show(r.handoff_reason), self)
  end
end

-- name: a ctx:after timer name, or "timeout" for the state's inactivity timeout.
-- after: optional duration; the timer must be due that long from now (to the second).
function Session:expect_timer(name, after)
  local r = self.h:_record()
  local key = name == "timeout" and "__timeout" or name
  local due = (r.timers or {})[key]
  if not due then
    local armed = {}
    for k in pairs(r.timers or {}) do armed[#armed + 1] = k == "__timeout" and "timeout" or k end
    table.sort(armed)
    fail("expected timer " .. show(name) .. " to be armed; armed timers: " ..
         (#armed == 0 and "none" or table.concat(armed, ", ")), self)
  end
  if after ~= nil then
    local ms = charla._duration(after)
    if not ms then fail("t:expect_timer: " .. show(after) .. " is not a duration", self) end
    local left = due - self.h:_now()
    if math.abs(left - ms) > 1000 then
      fail("expected timer " .. show(name) .. " due in " .. tostring(after) .. ", but it is due in " ..
           string.format("%.0fs", left / 1000), self)
    end
  end
end

-- Every field given must be in the payload with that value (tables: the fields given, recursively).
local function subset(expected, actual)
  if type(expected) ~= "table" then return expected == actual end
  if type(actual) ~= "table" then return false end
  for k, v in pairs(expected) do
    if not subset(v, actual[k]) then return false end
  end
  return true
end

-- An event the last action emitted (ctx:emit) with that name and at least those payload fields.
function Session:expect_emit(name, fields)
  if type(name) ~= "string" then fail("t:expect_emit(name, fields): name must be a string", self) end
  for i, e in ipairs(self.events or {}) do
    if not self.events_used[i] and e.name == name and subset(fields or {}, e.payload or {}) then
      self.events_used[i] = true
      return e.payload
    end
  end
  local lines = {}
  for _, e in ipairs(self.events or {}) do lines[#lines + 1] = "    " .. e.name .. " " .. show(e.payload) end
  fail("expected an event " .. show(name) .. (fields and (" with " .. show(fields)) or "") .. "\n  but " ..
       (#lines == 0 and "the last action emitted none" or ("the last action emitted:\n" .. table.concat(lines, "\n"))), self)
end

function Session:expect_no_timer(name)
  local key = name == "timeout" and "__timeout" or name
  if (self.h:_record().timers or {})[key] then fail("expected no timer " .. show(name) .. ", but it is armed", self) end
end

---------------------------------------------------------------------------------------
-- Scripted plugins
---------------------------------------------------------------------------------------
function Session:llm_reply(spec)
  if type(spec) == "string" then spec = { reply = spec } end
  if type(spec) ~= "table" or (spec.reply == nil and spec.json == nil) then
    fail("t:llm_reply{ match = \"...\", reply = \"text\" | json = {...} }: reply or json is needed", self)
  end
  self.h:_script("llm", spec)
end

function Session:llm_fail(code, spec)
  spec = spec or {}
  spec.fail = code or "timeout"
  self.h:_script("llm", spec)
end

function Session:http_reply(spec)
  if type(spec) ~= "table" then fail("t:http_reply{ url = \"...\", status = 200, json = {...} | body = \"...\" }", self) end
  self.h:_script("http", spec)
end

-- t:http_fail(503): the server answers 503; t:http_fail("timeout"): the call fails.
function Session:http_fail(what, spec)
  spec = spec or {}
  if type(what) == "number" then spec.status = what else spec.fail = what or "network" end
  self.h:_script("http", spec)
end

---------------------------------------------------------------------------------------
-- Running one test (called by the runner)
---------------------------------------------------------------------------------------
local function close_all(sessions)
  for _, s in ipairs(sessions) do pcall(s.h._close, s.h) end
end

function charla._run(i)
  local t = tests[i]
  current = {}
  local opened = current
  local message
  local ok = xpcall(t.fn, function(err)
    if getmetatable(err) == Failure then
      message = err.where .. ": " .. err.message
      local s = err.session or opened[#opened]
      if s then message = message .. "\n  conversation so far:\n" .. s:transcript() end
    else
      message = tostring(err)
      local s = opened[#opened]
      message = traceback(message, 2):gsub("\n[^\n]*charla%.test[^\n]*", ""):gsub("\n%s*%[C%]: in function 'xpcall'", "")
      if s then message = message .. "\n  conversation so far:\n" .. s:transcript() end
    end
    return message
  end)
  current = nil
  if ok then
    local notes = {}
    for _, s in ipairs(opened) do
      local oku, unused = pcall(s.h._unused, s.h)
      for _, line in ipairs(oku and unused or {}) do notes[#notes + 1] = "note: a scripted reply was never used: " .. line end
    end
    if #notes > 0 then message = table.concat(notes, "\n") end
  end
  close_all(opened)
  return ok, message
end
)lua";

}  // namespace charla::flowtest
