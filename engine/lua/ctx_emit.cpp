// ctx:emit(name [, payload]): a business event for the systems around the bot (a CRM,
// a help desk). The event is an effect of the turn like a reply: it is committed with
// the turn (and delivered to the configured webhooks), or dropped with it when the
// turn fails.
//
// Errors (all raise with file:line): a name that is not a non-empty string of
// letters, digits and . _ - (at most 100 bytes), a name the engine uses for its own
// events, a payload that is not a table (or nil), one that cannot be stored as JSON
// or is larger than 64 KiB, and more than 100 events in one turn.
#include "lua/ctx.hpp"
#include "lua/json_lua.hpp"

#include <algorithm>
#include <array>

namespace charla::lua::detail {
namespace {

constexpr std::size_t kMaxNameBytes = 100;
constexpr std::size_t kMaxPayloadBytes = 64u << 10;
constexpr std::size_t kMaxEventsPerTurn = 100;

// The engine's own events (runtime/event_log.hpp): a flow must not forge them.
constexpr std::array<std::string_view, 6> kEngineEvents = {
    "conversation.started", "state.changed", "handoff.started", "handoff.ended", "conversation.reset", "message.failed"};

bool valid_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

Failure add_event(lua_State* L, Turn& turn, std::string_view name, int payload) noexcept {
  Failure failure;
  try {
    EmittedEvent event;
    event.name = std::string(name);
    event.payload = nlohmann::json::object();
    std::string error;
    if (!lua_isnoneornil(L, payload) &&
        !to_json(L, payload, event.payload, error, "ctx:emit payload", "sent", kMaxPayloadBytes))
      failure.set(error);
    else if (event.payload.is_array() && event.payload.empty())
      event.payload = nlohmann::json::object();  // {} and [] are the same empty Lua table
    if (!failure) turn.effects.emitted.push_back(std::move(event));
  } catch (const std::exception& e) {
    failure.set(e.what());
  }
  return failure;
}

int ctx_emit(lua_State* L) {
  Turn& turn = check_ctx(L, 1);
  const std::string_view name = check_text(L, 2, "ctx:emit", "event name");
  if (name.size() > kMaxNameBytes)
    return luaL_error(L, "ctx:emit: event name is longer than %d bytes", static_cast<int>(kMaxNameBytes));
  if (!std::all_of(name.begin(), name.end(), valid_name_char))
    return luaL_error(L, "ctx:emit: event name '%s' may only hold letters, digits and . _ - (e.g. \"lead.qualified\")",
                      lua_tostring(L, 2));
  if (std::find(kEngineEvents.begin(), kEngineEvents.end(), name) != kEngineEvents.end())
    return luaL_error(L, "ctx:emit: '%s' is an event charla emits itself; pick another name", lua_tostring(L, 2));
  if (!lua_isnoneornil(L, 3) && !lua_istable(L, 3))
    return luaL_error(L, "ctx:emit: payload must be a table (or nil), got %s", luaL_typename(L, 3));
  if (turn.effects.emitted.size() >= kMaxEventsPerTurn)
    return luaL_error(L, "ctx:emit: more than %d events in one turn", static_cast<int>(kMaxEventsPerTurn));
  const Failure failure = add_event(L, turn, name, 3);
  if (failure) return raise_failure(L, failure);
  return 0;
}

}  // namespace

void register_emit(lua_State* L) { add_ctx_method(L, "emit", ctx_emit); }

}  // namespace charla::lua::detail
