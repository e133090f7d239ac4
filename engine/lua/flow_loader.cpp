#include "lua/flow_loader.hpp"

#include "lua/duration.hpp"
#include "lua/flow_check.hpp"
#include "lua/json_lua.hpp"
#include "lua/sandbox.hpp"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace charla::lua::detail {
namespace {

const std::set<std::string> kTopKeys{"name",     "version",         "initial", "states",      "double_text", "fallback",
                                     "llm_fallback", "window_template", "timers",  "description", "migrate",
                                     "timezone", "open_hours"};
const std::set<std::string> kStateKeys{"enter", "message", "leave", "timeout", "timers", "description", "final"};

// Restores the Lua stack however validation ends (it reports problems by throwing).
class StackGuard {
 public:
  explicit StackGuard(lua_State* L) : L_(L), top_(lua_gettop(L)) {}
  ~StackGuard() { lua_settop(L_, top_); }
  StackGuard(const StackGuard&) = delete;
  StackGuard& operator=(const StackGuard&) = delete;

 private:
  lua_State* L_;
  int top_;
};

std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw FlowError(file.string() + ": cannot read flow file");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string key_text(lua_State* L, int index) {
  std::size_t len = 0;
  const char* s = lua_tolstring(L, index, &len);
  return std::string(s, len);
}

// Validates the table returned by a flow file and builds its FlowRecord. Uses raw
// accesses only, so no flow code runs while it reads.
class Validator {
 public:
  Validator(lua_State* L, const std::filesystem::path& file, std::string_view source)
      : L_(L), file_(file.string()), source_(source), record_(std::make_shared<FlowRecord>()) {
    record_->info.file = file;
  }

  std::shared_ptr<FlowRecord> run(int flow) {
    lua_newtable(L_);
    handlers_ = lua_gettop(L_);
    check_keys(flow, kTopKeys, [&](const std::string& key) {
      return at(0, "unknown top-level key '" + key + "' (expected " + join(kTopKeys) + ")", key);
    });
    header(flow);
    collect_states(flow);
    if (field(flow, "timers") != LUA_TNIL) record_->timers = timers(lua_gettop(L_), "timers", 1);
    lua_pop(L_, 1);
    if (field(flow, "migrate") != LUA_TNIL) record_->migrate = handler(lua_gettop(L_), "migrate", "migrate", 1);
    lua_pop(L_, 1);
    for (const auto& name : record_->info.states) {
      reading_state_ = name;
      state(flow, name);
    }
    reading_state_.clear();
    lua_pushvalue(L_, handlers_);
    record_->handlers_ref = luaL_ref(L_, LUA_REGISTRYINDEX);
    return record_;
  }

 private:
  [[noreturn]] void fail(int line, const std::string& message) const {
    throw FlowError(line > 0 ? file_ + ":" + std::to_string(line) + ": " + message : file_ + ": " + message);
  }
  // The line where `key` is assigned (searching from `from`), for messages.
  [[noreturn]] bool at(int from, const std::string& message, const std::string& key) const {
    fail(source_.key_line(key, from), message);
  }

  static std::string join(const std::set<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
  }

  int field(int table, const char* key) {
    lua_pushstring(L_, key);
    return lua_rawget(L_, table);
  }

  template <class OnUnknown>
  void check_keys(int table, const std::set<std::string>& allowed, OnUnknown on_unknown) {
    lua_pushnil(L_);
    while (lua_next(L_, table)) {
      lua_pop(L_, 1);
      if (lua_type(L_, -1) != LUA_TSTRING) fail(0, "table keys must be strings here");
      const std::string key = key_text(L_, -1);
      if (!allowed.count(key)) on_unknown(key);
    }
  }

  std::string string_field(int table, const char* key, bool required) {
    const int type = field(table, key);
    std::string value;
    if (type == LUA_TSTRING) value = key_text(L_, -1);
    else if (type != LUA_TNIL || required) at(0, std::string(key) + " must be a string", key);
    lua_pop(L_, 1);
    return value;
  }

  void header(int flow) {
    FlowInfo& info = record_->info;
    info.name = string_field(flow, "name", true);
    if (info.name.empty()) at(0, "name must not be empty", "name");
    string_field(flow, "description", false);
    info.fallback = string_field(flow, "fallback", false);
    info.llm_fallback = string_field(flow, "llm_fallback", false);
    if (const int type = field(flow, "version"); type != LUA_TNIL) {
      if (!lua_isinteger(L_, -1)) at(0, "version must be an integer", "version");
      info.version = lua_tointeger(L_, -1);
    }
    lua_pop(L_, 1);
    if (field(flow, "double_text") != LUA_TNIL) double_text(lua_gettop(L_));
    lua_pop(L_, 1);
    if (field(flow, "window_template") != LUA_TNIL) {
      std::string error;
      if (lua_type(L_, -1) != LUA_TTABLE || !to_json(L_, -1, info.window_template, error, "window_template"))
        at(0, error.empty() ? "window_template must be a table" : error, "window_template");
    }
    lua_pop(L_, 1);
    local_time(flow);
    if (field(flow, "initial") != LUA_TSTRING) at(0, "missing initial state (initial = \"STATE\")", "initial");
    info.initial = key_text(L_, -1);
    lua_pop(L_, 1);
  }

  // `timezone = "America/Santiago"` and `open_hours = { mon_fri = "09:00-19:00" }`.
  void local_time(int flow) {
    if (field(flow, "timezone") != LUA_TNIL) {
      if (lua_type(L_, -1) != LUA_TSTRING) at(0, "timezone must be a string such as \"America/Santiago\"", "timezone");
      const std::string name = key_text(L_, -1);
      const auto zone = find_zone(name);
      if (!zone)
        at(0, "unknown time zone '" + name + "' (use an IANA name such as \"America/Santiago\" or \"UTC\"; the tz database is read from /usr/share/zoneinfo)", "timezone");
      record_->zone = *zone;
      record_->info.timezone = name;
    }
    lua_pop(L_, 1);
    if (field(flow, "open_hours") != LUA_TNIL) {
      const int table = lua_gettop(L_);
      if (lua_type(L_, table) != LUA_TTABLE)
        at(0, "open_hours must be a table such as { mon_fri = \"09:00-19:00\", sat = \"10:00-14:00\" }", "open_hours");
      const int line = source_.key_line("open_hours");
      std::vector<std::pair<std::string, std::string>> entries;
      lua_pushnil(L_);
      while (lua_next(L_, table)) {
        if (lua_type(L_, -2) != LUA_TSTRING || lua_type(L_, -1) != LUA_TSTRING)
          fail(line, "open_hours: entries must be day = \"HH:MM-HH:MM\" strings, such as mon_fri = \"09:00-19:00\"");
        entries.emplace_back(key_text(L_, -2), key_text(L_, -1));
        lua_pop(L_, 1);
      }
      OpenHours hours;
      const auto [error, key] = parse_open_hours(entries, hours);
      if (!error.empty()) fail(source_.key_line(key, line), error);
      if (hours.empty()) fail(line, "open_hours: every day is closed (leave open_hours out instead)");
      record_->open_hours = std::move(hours);
    }
    lua_pop(L_, 1);
  }

  void double_text(int table) {
    if (lua_type(L_, table) != LUA_TTABLE) at(0, "double_text must be a table { debounce_ms = N }", "double_text");
    check_keys(table, {"debounce_ms"}, [&](const std::string& key) {
      return at(0, "double_text: unknown key '" + key + "' (expected debounce_ms)", "double_text");
    });
    if (field(table, "debounce_ms") != LUA_TNIL) {
      if (!lua_isinteger(L_, -1) || lua_tointeger(L_, -1) < 0)
        at(0, "double_text.debounce_ms must be a non-negative integer", "debounce_ms");
      record_->info.double_text_debounce_ms = lua_tointeger(L_, -1);
    }
    lua_pop(L_, 1);
  }

  void collect_states(int flow) {
    if (field(flow, "states") != LUA_TTABLE) at(0, "states must be a table of states", "states");
    const int states = lua_gettop(L_);
    std::vector<std::pair<int, std::string>> found;
    lua_pushnil(L_);
    while (lua_next(L_, states)) {
      if (lua_type(L_, -2) != LUA_TSTRING) fail(source_.key_line("states"), "state names must be strings");
      const std::string name = key_text(L_, -2);
      if (lua_type(L_, -1) != LUA_TTABLE) at(0, "state " + name + " must be a table of handlers", name);
      found.emplace_back(source_.key_line(name), name);
      record_->info.state_lines[name] = found.back().first;
      lua_pop(L_, 1);
    }
    lua_pop(L_, 1);
    std::sort(found.begin(), found.end());  // file order, for check/graph output
    for (auto& [line, name] : found) {
      record_->info.states.push_back(name);
      names_.insert(name);
    }
    const std::string& initial = record_->info.initial;
    if (!names_.count(initial))
      at(0, "initial state '" + initial + "' is not one of the states (" + join(names_) + ")", "initial");
  }

  void state(int flow, const std::string& name) {
    field(flow, "states");
    lua_pushstring(L_, name.c_str());
    lua_rawget(L_, -2);
    const int table = lua_gettop(L_);
    const int line = source_.key_line(name);
    StateRecord& rec = record_->states[name];
    check_keys(table, kStateKeys, [&](const std::string& key) {
      const int type = field(table, key.c_str());
      int at_line = source_.key_line(key, line);
      if (type == LUA_TFUNCTION) at_line = defined_line(-1);
      fail(at_line, "state " + name + ": unknown handler '" + key + "' (expected enter, message, leave, timeout, timers, final)");
    });
    const std::string where = "state " + name;
    const std::pair<const char*, int*> slots[] = {{"enter", &rec.enter}, {"message", &rec.message}, {"leave", &rec.leave}};
    for (auto [key, slot] : slots) {
      if (field(table, key) != LUA_TNIL) *slot = handler(lua_gettop(L_), where, key, line);
      lua_pop(L_, 1);
    }
    if (field(table, "timeout") != LUA_TNIL) timeout(lua_gettop(L_), name, rec, line);
    lua_pop(L_, 1);
    if (field(table, "timers") != LUA_TNIL) rec.timers = timers(lua_gettop(L_), where + " timers", line);
    lua_pop(L_, 1);
    if (field(table, "description") != LUA_TNIL && lua_type(L_, -1) != LUA_TSTRING)
      at(line, where + ": description must be a string", "description");
    lua_pop(L_, 1);
    if (const int type = field(table, "final"); type != LUA_TNIL) {
      if (type != LUA_TBOOLEAN) at(line, where + ": final must be true or false", "final");
      if (lua_toboolean(L_, -1)) record_->info.final_states.push_back(name);
    }
    lua_settop(L_, table - 2);
  }

  void timeout(int table, const std::string& state, StateRecord& rec, int line) {
    const std::string where = "state " + state + ": timeout";
    if (lua_type(L_, table) != LUA_TTABLE)
      at(line, where + " must be a table { after = DURATION, run = function(ctx) ... end }", "timeout");
    check_keys(table, {"after", "run"}, [&](const std::string& key) {
      return at(line, where + ": unknown key '" + key + "' (expected after, run)", key);
    });
    field(table, "after");
    const auto ms = duration_ms_at(L_, -1);
    if (!ms) at(line, where + ".after must be a duration (seconds, or \"500ms\", \"90s\", \"30m\", \"2h\", \"1d\")", "after");
    lua_pop(L_, 1);
    rec.timeout_ms = *ms;
    record_->info.state_timeout_ms[state] = *ms;
    if (field(table, "run") == LUA_TNIL) at(line, where + " needs run = function(ctx) ... end", "timeout");
    rec.timeout_run = handler(lua_gettop(L_), "state " + state, "timeout.run", line);
    lua_pop(L_, 1);
  }

  std::map<std::string, int> timers(int table, const std::string& where, int line) {
    if (lua_type(L_, table) != LUA_TTABLE) at(line, where + " must be a table of functions", "timers");
    std::map<std::string, int> out;
    lua_pushnil(L_);
    while (lua_next(L_, table)) {
      if (lua_type(L_, -2) != LUA_TSTRING) at(line, where + ": timer names must be strings", "timers");
      const std::string name = key_text(L_, -2);
      out[name] = handler(lua_gettop(L_), where, name.c_str(), line);
      lua_pop(L_, 1);
    }
    return out;
  }

  int defined_line(int index) {
    lua_Debug ar;
    lua_pushvalue(L_, index);
    lua_getinfo(L_, ">S", &ar);
    return ar.linedefined;
  }

  // Stores the function at `index` in the handler array and checks the state names it
  // leads to literally, also through the flow file's helper functions it calls.
  // Returns its 1-based index.
  int handler(int index, const std::string& where, const std::string& key, int line) {
    if (lua_type(L_, index) != LUA_TFUNCTION) at(line, where + ": " + key + " must be a function", key);
    index = lua_absindex(L_, index);
    std::set<std::pair<const void*, bool>> seen;
    follow(index, where, key, true, "", seen);
    lua_pushvalue(L_, index);
    const int slot = static_cast<int>(lua_rawlen(L_, handlers_)) + 1;
    lua_rawseti(L_, handlers_, slot);
    return slot;
  }

  // Records the transitions the function at `index` makes: its literal `return "X"`
  // when `returns` (what it returns is what the handler returns), its ctx:go literals,
  // and, recursively, those of the flow file's functions it calls by plain name (local
  // helpers are its upvalues, global ones live in its _ENV).
  void follow(int index, const std::string& where, const std::string& key, bool returns, const std::string& via,
              std::set<std::pair<const void*, bool>>& seen) {
    if (!seen.insert({lua_topointer(L_, index), returns}).second) return;
    lua_Debug ar;
    lua_pushvalue(L_, index);
    lua_getinfo(L_, ">S", &ar);
    if (!ar.source || ("@" + file_) != ar.source) return;
    const auto body = source_.function_body(ar.linedefined, ar.lastlinedefined);
    if (returns)
      for (const auto& literal : body.returns) transition(literal, where, key, via);
    for (const auto& literal : body.gotos) transition(literal, where, key, via);
    for (const auto& name : body.calls) {
      if (!push_flow_function(index, name)) continue;
      const bool passes_on = returns && std::count(body.returned_calls.begin(), body.returned_calls.end(), name) > 0;
      follow(lua_gettop(L_), where, key, passes_on, name, seen);
      lua_pop(L_, 1);
    }
  }

  // Pushes the global `name` of the flow environment on top of the stack (or nil),
  // without running metamethods. A flow's _ENV is an empty proxy whose __index is the
  // table of the file's own globals (readonly.cpp), so a global function lives there.
  void push_env_global(const std::string& name) {
    lua_pushstring(L_, name.c_str());
    lua_rawget(L_, -2);                                  // env, value
    if (!lua_isnil(L_, -1) || !lua_getmetatable(L_, -2)) return;
    lua_getfield(L_, -1, "__index");                     // env, nil, mt, globals
    if (lua_type(L_, -1) == LUA_TTABLE) {
      lua_pushstring(L_, name.c_str());
      lua_rawget(L_, -2);
    } else {
      lua_pushnil(L_);
    }                                                    // env, nil, mt, globals, value
    lua_replace(L_, -4);                                 // env, value, mt, globals
    lua_pop(L_, 2);
  }

  // Pushes the Lua function the function at `index` sees as `name`, if it has one.
  bool push_flow_function(int index, const std::string& name) {
    for (int i = 1;; ++i) {
      const char* up = lua_getupvalue(L_, index, i);
      if (!up) return false;
      if (name == up && lua_type(L_, -1) == LUA_TFUNCTION && !lua_iscfunction(L_, -1)) return true;
      if (std::string_view(up) == "_ENV" && lua_type(L_, -1) == LUA_TTABLE) {
        push_env_global(name);
        lua_remove(L_, -2);
        if (lua_type(L_, -1) == LUA_TFUNCTION && !lua_iscfunction(L_, -1)) return true;
      }
      lua_pop(L_, 1);
    }
  }

  void transition(const FlowSource::Literal& literal, const std::string& where, const std::string& key,
                  const std::string& via) {
    const std::string through = via.empty() ? "" : ", through " + via + "()";
    if (!names_.count(literal.name))
      fail(literal.line, "returns unknown state '" + literal.name + "' (" + where + " " + key + through +
                             "; states: " + join(names_) + ")");
    const bool timer = where.size() >= 6 && where.compare(where.size() - 6, 6, "timers") == 0;
    record_->info.transitions.push_back(
        {reading_state_, literal.name, timer ? "timers." + key : key, literal.line, via});
  }

  lua_State* L_;
  std::string file_;
  FlowSource source_;
  std::shared_ptr<FlowRecord> record_;
  std::set<std::string> names_;
  std::string reading_state_;  // the state whose handlers are being read; empty for flow-level ones
  int handlers_ = 0;
};

// Runs the compiled chunk under the instruction budget and the memory cap.
int run_chunk(Host& host) {
  Budget budget;
  budget.limit = host.options.instruction_budget;
  Budget* const outer = host.budget;
  host.budget = &budget;
  install_count_hook(host, host.L);
  const int status = lua_pcall(host.L, 0, 1, 0);
  lua_sethook(host.L, nullptr, 0, 0);
  host.budget = outer;
  if (status == LUA_ERRMEM || budget.kill == Budget::Kill::memory) lua_gc(host.L, LUA_GCCOLLECT);
  return status;
}

}  // namespace

std::shared_ptr<FlowRecord> load_flow_file(Host& host, const std::filesystem::path& file) {
  lua_State* L = host.L;
  StackGuard guard(L);
  const std::string source = read_file(file);
  if (!source.empty() && source[0] == LUA_SIGNATURE[0])
    throw FlowError(file.string() + ": precompiled Lua is not accepted; flows are text");
  std::string dir = file.parent_path().string();
  if (dir.empty()) dir = ".";
  {
    CapLift lift(host.allocator);
    const std::string chunkname = "@" + file.string();
    if (luaL_loadbufferx(L, source.data(), source.size(), chunkname.c_str(), "t") != LUA_OK)
      throw FlowError(lua_tostring(L, -1));
    push_flow_env(L, dir);
    lua_setupvalue(L, -2, 1);
  }
  if (const int status = run_chunk(host); status != LUA_OK) {
    if (status == LUA_ERRMEM || lua_type(L, -1) != LUA_TSTRING)
      throw FlowError(file.string() + ": " + (status == LUA_ERRMEM ? "memory limit exceeded" : "error") + " while loading");
    throw FlowError(lua_tostring(L, -1));
  }
  CapLift lift(host.allocator);
  if (lua_type(L, -1) != LUA_TTABLE) throw FlowError(file.string() + ": a flow file must return a table");
  Validator validator(L, file, source);
  return validator.run(lua_gettop(L));
}

}  // namespace charla::lua::detail
