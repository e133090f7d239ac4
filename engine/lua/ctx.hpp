#pragma once
// The ctx and msg objects a handler receives (Envoy's BaseLuaObject rule): userdata
// holding only their turn's generation. Every field access and method call checks
// that their turn is the one running; afterwards they raise "ctx used after its turn
// ended" instead of touching anything freed.
//
// The ctx API is assembled from feature files (lua-nginx-module's inject_*_api):
// ctx_say.cpp, ctx_data.cpp, ctx_control.cpp, ctx_plugins.cpp each register their
// methods and fields here.
//
// Error channels, for every ctx method: programming errors (wrong argument types,
// unknown state, a dead ctx, a message the channel refuses) raise with file:line;
// expected failures of the outside world (plugin errors) return nil, err.
#include "lua/turn.hpp"

#include <cstdio>
#include <string_view>

namespace charla::lua::detail {

// Builds the ctx/msg metatables and the method/field registries. Call once.
void create_ctx_metatables(lua_State* L);
void add_ctx_method(lua_State* L, const char* name, lua_CFunction method);
// getter(ctx) -> value; setter(ctx, value), nullptr: the field is read-only.
void add_ctx_field(lua_State* L, const char* name, lua_CFunction getter, lua_CFunction setter);

// The running turn owning the ctx at `index`; raises if it is not a live ctx.
Turn& check_ctx(lua_State* L, int index);

// Push new objects for `turn`. push_ctx takes the data table from the top of the
// stack; push_msg takes the message table from the top of the stack.
void push_ctx(lua_State* L, const Turn& turn);
void push_msg(lua_State* L, const Turn& turn);

// Feature registrars, called by the host once at startup.
void register_say(lua_State* L);
void register_data(lua_State* L);
void register_control(lua_State* L);
void register_time(lua_State* L);      // ctx_time.cpp
void register_settings(Host& host);    // ctx_settings.cpp
void register_emit(lua_State* L);  // ctx_emit.cpp
// False when `method` is already a ctx method or field.
bool register_plugin_method(Host& host, Plugin& plugin, const std::string& method);

// The outcome of C++ work done inside a C function. Trivially destructible, so it
// can outlive the C++ objects of that work and be raised with luaL_error after they
// are gone (Lua raises by longjmp, which would skip their destructors).
struct Failure {
  bool failed = false;
  char text[480] = {};
  void set(std::string_view message) noexcept {
    failed = true;
    const std::size_t n = message.size() < sizeof text - 1 ? message.size() : sizeof text - 1;
    message.copy(text, n);
    text[n] = '\0';
  }
  explicit operator bool() const { return failed; }
};

inline int raise_failure(lua_State* L, const Failure& failure) { return luaL_error(L, "%s", failure.text); }

// A string argument that must be present, non-empty (unless allow_empty) and valid
// UTF-8; raises "<method>: <what> must be ..." otherwise.
std::string_view check_text(lua_State* L, int index, const char* method, const char* what, bool allow_empty = false);
// Same for an optional argument: empty view when nil or absent.
std::string_view opt_text(lua_State* L, int index, const char* method, const char* what);

}  // namespace charla::lua::detail
