// ctx:<method>(args) for every method of every registered plugin (ctx:llm, ctx:http).
//
// The yield recipe (lua-nginx-module, rspamd): check the call is allowed here (the
// turn's own coroutine, yieldable), convert the arguments, start the plugin call with
// a completion that carries the turn's generation and call sequence, then yield. The
// completion is posted on the io_context and resumes the coroutine only if that turn
// is still waiting for that very call; otherwise (timed out, shut down) it is dropped
// without touching the coroutine, which may be gone.
//
// Errors: calling from a coroutine the flow created, from a non-yieldable place
// (table.sort comparator, string.gsub callback) or with arguments that cannot be sent
// raises; a plugin's argument_error raises at the call site with file:line; a
// plugin's error (LLM timeout, HTTP 500) returns nil, err (err = {code=, message=});
// success returns the value converted to Lua.
#include "lua/ctx.hpp"
#include "lua/json_lua.hpp"

#include <boost/asio/post.hpp>

namespace charla::lua::detail {
namespace {

// Continuation after the plugin replied: runs inside the turn's coroutine.
int plugin_continue(lua_State* L, int, lua_KContext) {
  Turn& turn = *host_of(L).running;
  if (!turn.reply) return luaL_error(L, "plugin call resumed without a reply");
  if (!turn.reply->argument_error.empty()) {
    turn.scratch = turn.call_site + turn.reply->argument_error;  // call_site ends in ": "
    turn.reply.reset();
    lua_pushlstring(L, turn.scratch.data(), turn.scratch.size());
    turn.scratch.clear();
    return lua_error(L);
  }
  if (!turn.reply->error.is_null()) {
    if (turn.call_method == "llm") turn.llm_failed = true;
    lua_pushnil(L);
    push_json(L, turn.reply->error);
    turn.reply.reset();
    return 2;
  }
  push_json(L, turn.reply->value);
  turn.reply.reset();
  return 1;
}

// C++ half of the call: no Lua raising in here, so its objects are destroyed before
// the caller yields (lua_yieldk leaves by longjmp).
Failure start_call(lua_State* L, Host& host, Turn& turn, Plugin& plugin, const char* method) noexcept {
  Failure failure;
  try {
    PluginCall call;
    call.method = method;
    std::string error;
    const std::string path = std::string("ctx:") + method + " arguments";
    if (lua_type(L, 2) == LUA_TSTRING) {
      std::size_t len = 0;
      const char* prompt = lua_tolstring(L, 2, &len);
      if (!valid_utf8({prompt, len})) {
        failure.set(path + ": the prompt is not valid UTF-8");
        return failure;
      }
      call.args = {{"prompt", std::string(prompt, len)}};
    } else if (lua_isnoneornil(L, 2)) {
      call.args = nlohmann::json::object();
    } else if (lua_type(L, 2) != LUA_TTABLE || !to_json(L, 2, call.args, error, path, "sent")) {
      failure.set(error.empty() ? path + ": expected a table or a string" : error);
      return failure;
    }
    if (call.args.is_array() && call.args.empty()) call.args = nlohmann::json::object();
    call.flow = turn.input.flow;
    call.conversation = turn.input.conversation;
    call.deadline = turn.started + host.options.turn_time_budget;
    call.history = turn.input.history;
    turn.call_site = lua_tostring(L, -1);  // luaL_where, pushed by the caller
    turn.call_method = method;
    turn.awaiting = true;
    const std::uint64_t seq = ++turn.call_seq;
    const std::uint64_t generation = turn.generation;
    std::weak_ptr<Host*> life = host.life;
    boost::asio::io_context& io = host.io;
    plugin.call(std::move(call), [life, generation, seq, &io](PluginReply reply) {
      boost::asio::post(io, [life, generation, seq, reply = std::move(reply)]() mutable {
        if (auto host = life.lock()) on_plugin_reply(**host, generation, seq, std::move(reply));
      });
    });
  } catch (const std::exception& e) {
    turn.awaiting = false;
    failure.set(std::string("ctx:") + method + ": " + e.what());
  }
  return failure;
}

// Upvalues: 1 the method name, 2 the Plugin* (light userdata).
int plugin_method(lua_State* L) {
  Turn& turn = check_ctx(L, 1);
  const char* method = lua_tostring(L, lua_upvalueindex(1));
  auto* plugin = static_cast<Plugin*>(lua_touserdata(L, lua_upvalueindex(2)));
  if (L != turn.co || !lua_isyieldable(L))
    return luaL_error(L, "ctx:%s cannot be called here (only directly in a handler: not inside a coroutine, "
                         "a metamethod or a callback such as table.sort's)", method);
  lua_settop(L, 2);
  luaL_where(L, 1);
  const Failure failure = start_call(L, host_of(L), turn, *plugin, method);
  if (failure) return raise_failure(L, failure);
  lua_settop(L, 0);
  return lua_yieldk(L, 0, 0, plugin_continue);
}

}  // namespace

bool register_plugin_method(Host& host, Plugin& plugin, const std::string& method) {
  lua_State* L = host.L;
  lua_getfield(L, LUA_REGISTRYINDEX, kCtxGetters);
  const bool is_field = lua_getfield(L, -1, method.c_str()) != LUA_TNIL;
  lua_pop(L, 2);
  lua_getfield(L, LUA_REGISTRYINDEX, kCtxMethods);
  if (is_field || lua_getfield(L, -1, method.c_str()) != LUA_TNIL) {
    lua_pop(L, 2);
    return false;
  }
  lua_pop(L, 1);
  lua_pushlstring(L, method.data(), method.size());
  lua_pushlightuserdata(L, &plugin);
  lua_pushcclosure(L, plugin_method, 2);
  lua_setfield(L, -2, method.c_str());
  lua_pop(L, 1);
  host.plugin_methods[method] = &plugin;
  return true;
}

}  // namespace charla::lua::detail
