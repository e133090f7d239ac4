// The Session primitives the prelude builds the test API on, and the test file's
// Lua state. C++ exceptions never cross Lua (it unwinds with longjmp): protect()
// turns them into a Lua error raised once the C++ objects are gone.
#include "flowtest/lua_api.hpp"

#include "flowtest/prelude.hpp"
#include "flowtest/session.hpp"
#include "lua/duration.hpp"
#include "lua/json_lua.hpp"

#include <cstring>
#include <stdexcept>

namespace charla::flowtest {

namespace {

using nlohmann::json;
using lua::detail::push_json;

constexpr const char* kHandleMeta = "charla.test.session";

template <class Body>
int protect(lua_State* L, Body body) {
  int results = 0;
  bool failed = false;
  try {
    results = body();
  } catch (const std::exception& e) {
    lua_pushstring(L, e.what());
    failed = true;
  } catch (...) {
    lua_pushstring(L, "unknown error");
    failed = true;
  }
  if (failed) return lua_error(L);
  return results;
}

json arg_json(lua_State* L, int index, const char* what) {
  json out;
  std::string error;
  if (!lua::detail::to_json(L, index, out, error, what, "used")) throw std::runtime_error(error);
  return out;
}

Session*& handle_at(lua_State* L) {
  return *static_cast<Session**>(luaL_checkudata(L, 1, kHandleMeta));
}

Session& session_at(lua_State* L) {
  Session* s = handle_at(L);
  if (!s) throw std::runtime_error("this charla.test session has ended (sessions end with their test)");
  return *s;
}

json step_json(const Step& step) {
  json calls = json::array();
  for (auto& c : step.calls)
    calls.push_back({{"method", c.method}, {"args", c.args}, {"scripted", c.scripted}, {"answer", c.answer}});
  return {{"replies", step.replies}, {"errors", step.errors}, {"calls", calls}, {"timers", step.timers},
          {"emitted", step.emitted}};
}

PluginReply scripted_reply(const std::string& method, const json& spec) {
  if (spec.contains("fail")) {
    const auto code = spec["fail"].is_string() ? spec["fail"].get<std::string>() : spec["fail"].dump();
    return PluginReply::fail(code, "scripted failure (" + code + ")");
  }
  if (method == "llm") {
    if (spec.contains("json")) return PluginReply::ok(spec["json"]);
    if (!spec.contains("reply") || !spec["reply"].is_string())
      throw std::runtime_error("t:llm_reply: reply must be a string (or give json = {...})");
    return PluginReply::ok(spec["reply"]);
  }
  json res;
  res["status"] = spec.value("status", 200);
  res["headers"] = spec.contains("headers") ? spec["headers"] : json::object();
  if (spec.contains("json")) {
    res["json"] = spec["json"];
    res["body"] = spec.contains("body") ? spec["body"] : json(spec["json"].dump());
    if (!res["headers"].contains("content-type")) res["headers"]["content-type"] = "application/json";
  } else {
    res["body"] = spec.value("body", std::string());
  }
  return PluginReply::ok(std::move(res));
}

int l_send(lua_State* L) {
  return protect(L, [&] {
    auto& s = session_at(L);
    auto messages = arg_json(L, 2, "message");
    std::vector<json> list(messages.begin(), messages.end());
    push_json(L, step_json(s.send(std::move(list))));
    return 1;
  });
}

int l_advance(lua_State* L) {
  return protect(L, [&] {
    auto& s = session_at(L);
    push_json(L, step_json(s.advance(static_cast<std::int64_t>(luaL_checkinteger(L, 2)))));
    return 1;
  });
}

int l_record(lua_State* L) {
  return protect(L, [&] {
    auto r = session_at(L).record();
    json timers = json::object();
    for (auto& [name, due] : r.timers) timers[name] = due;
    json out = {{"flow", r.flow}, {"data", r.data}, {"paused", r.paused}, {"handoff_reason", r.handoff_reason},
                {"timers", timers}};
    out["state"] = r.state.empty() ? json() : json(r.state);
    push_json(L, out);
    return 1;
  });
}

int l_script(lua_State* L) {
  return protect(L, [&] {
    auto& s = session_at(L);
    const std::string method = luaL_checkstring(L, 2);
    auto spec = arg_json(L, 3, method == "llm" ? "t:llm_reply" : "t:http_reply");
    if (!spec.is_object()) spec = json::object();
    std::string match;
    for (auto key : {"match", "url"})
      if (spec.contains(key) && spec[key].is_string()) match = spec[key].get<std::string>();
    s.script().add({method, match, scripted_reply(method, spec)});
    return 0;
  });
}

int l_reset(lua_State* L) {
  return protect(L, [&] {
    session_at(L).reset();
    return 0;
  });
}

int l_now(lua_State* L) {
  return protect(L, [&] {
    lua_pushinteger(L, session_at(L).now_ms());
    return 1;
  });
}

// Scripted replies no call took, one line each: a test that scripted an LLM answer the
// flow never asked for has probably not tested what it meant to.
int l_unused(lua_State* L) {
  return protect(L, [&] {
    json lines = json::array();
    for (auto& r : session_at(L).script().unused())
      lines.push_back("ctx:" + r.method + (r.match.empty() ? std::string() : " matching \"" + r.match + "\""));
    push_json(L, lines);
    return 1;
  });
}

int l_close(lua_State* L) {
  Session*& s = handle_at(L);
  delete s;  // stops the engine; never throws
  s = nullptr;
  return 0;
}

int l_session(lua_State* L) {
  const auto& profile = *static_cast<const ChannelProfile*>(lua_touserdata(L, lua_upvalueindex(1)));
  return protect(L, [&] {
    SessionOptions o;
    o.flow = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (lua_getfield(L, 2, "phone") == LUA_TSTRING) o.phone = lua_tostring(L, -1);
    if (lua_getfield(L, 2, "name") == LUA_TSTRING) o.name = lua_tostring(L, -1);
    if (lua_getfield(L, 2, "llm") == LUA_TBOOLEAN) o.llm = lua_toboolean(L, -1);
    if (lua_getfield(L, 2, "http") == LUA_TBOOLEAN) o.http = lua_toboolean(L, -1);
    if (int st = lua_getfield(L, 2, "settings"); st != LUA_TNIL) {
      std::string error;
      if (st == LUA_TTABLE && lua::detail::to_json(L, -1, o.settings, error, "settings") && o.settings.empty())
        o.settings = nlohmann::json::object();  // {} converts as an empty array
      if (st != LUA_TTABLE || !error.empty() || !o.settings.is_object())
        throw std::runtime_error("settings must be a table of the flow's settings, as in the config's flow_settings" +
                                 (error.empty() ? std::string() : ": " + error));
    }
    lua_pop(L, 1);
    int t = lua_getfield(L, 2, "now");
    if (t == LUA_TSTRING) {
      auto ms = parse_iso_time(lua_tostring(L, -1));
      if (!ms)
        throw std::runtime_error(std::string("now = \"") + lua_tostring(L, -1) +
                                 "\" is not a time like \"2026-03-02T09:00:00-03:00\"");
      o.now_ms = *ms;
    } else if (t == LUA_TNUMBER) {
      o.now_ms = static_cast<std::int64_t>(lua_tonumber(L, -1) * 1000);  // Unix seconds, as os.time gives
    } else {
      o.now_ms = *parse_iso_time("2026-03-02T12:00:00Z");  // a fixed Monday noon: tests repeat exactly
    }
    lua_pop(L, 5);
    auto** slot = static_cast<Session**>(lua_newuserdatauv(L, sizeof(Session*), 0));
    *slot = nullptr;
    luaL_setmetatable(L, kHandleMeta);
    *slot = new Session(std::move(o), profile);
    return 1;
  });
}

int l_duration(lua_State* L) {
  auto ms = lua::detail::duration_ms_at(L, 1);
  if (!ms) return 0;
  lua_pushinteger(L, *ms);
  return 1;
}

void open_lib(lua_State* L, const char* name, lua_CFunction open) {
  luaL_requiref(L, name, open, 1);
  lua_pop(L, 1);
}

}  // namespace

lua_State* new_test_state(const std::filesystem::path& test_file, const ChannelProfile& profile) {
  lua_State* L = luaL_newstate();
  if (!L) throw std::runtime_error("cannot create a Lua state (out of memory)");
  open_lib(L, "_G", luaopen_base);
  open_lib(L, LUA_LOADLIBNAME, luaopen_package);
  open_lib(L, LUA_COLIBNAME, luaopen_coroutine);
  open_lib(L, LUA_TABLIBNAME, luaopen_table);
  open_lib(L, LUA_STRLIBNAME, luaopen_string);
  open_lib(L, LUA_MATHLIBNAME, luaopen_math);
  open_lib(L, LUA_UTF8LIBNAME, luaopen_utf8);
  open_lib(L, LUA_DBLIBNAME, luaopen_debug);  // the prelude takes what it needs and removes it

  const auto dir = test_file.parent_path().string();
  lua_pushnil(L);
  lua_setglobal(L, "dofile");
  lua_pushnil(L);
  lua_setglobal(L, "loadfile");
  lua_getglobal(L, "package");
  lua_pushstring(L, (dir + "/?.lua;" + dir + "/?/init.lua").c_str());
  lua_setfield(L, -2, "path");
  lua_pushstring(L, "");
  lua_setfield(L, -2, "cpath");
  lua_pushnil(L);
  lua_setfield(L, -2, "loadlib");
  lua_getfield(L, -1, "searchers");  // keep preload and Lua files; drop C loaders
  for (int i = static_cast<int>(luaL_len(L, -1)); i > 2; --i) {
    lua_pushnil(L);
    lua_seti(L, -2, i);
  }
  lua_pop(L, 2);

  luaL_newmetatable(L, kHandleMeta);
  static const luaL_Reg methods[] = {{"_send", l_send},   {"_advance", l_advance}, {"_record", l_record},
                                     {"_script", l_script}, {"_reset", l_reset},   {"_now", l_now},
                                     {"_close", l_close}, {"_unused", l_unused}, {nullptr, nullptr}};
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_close);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);

  lua_newtable(L);
  lua_pushlightuserdata(L, const_cast<ChannelProfile*>(&profile));
  lua_pushcclosure(L, l_session, 1);
  lua_setfield(L, -2, "_session");
  lua_pushcfunction(L, l_duration);
  lua_setfield(L, -2, "_duration");
  lua_pushstring(L, dir.c_str());
  lua_setfield(L, -2, "_dir");
  lua_setglobal(L, "charla");

  if (luaL_loadbuffer(L, kPrelude, std::strlen(kPrelude), "=charla.test") != LUA_OK || lua_pcall(L, 0, 0, 0) != LUA_OK) {
    std::string error = lua_tostring(L, -1) ? lua_tostring(L, -1) : "?";
    lua_close(L);
    throw std::runtime_error("charla test prelude failed: " + error);
  }
  return L;
}

}  // namespace charla::flowtest
