// Outbound messages: ctx:say, buttons, list, template, media, react, mark_read,
// cta_url, location. Each appends one channel-neutral JSON message to the turn's
// outbound list after input.validate_outbound accepts it, and returns nothing, so
// `return ctx:say(...)` means "stay in this state".
//
// Errors (all raise with file:line, none return nil, err): wrong argument types,
// empty text, malformed buttons/rows/options, invalid UTF-8, react/mark_read without
// a message id in a turn that has no inbound message, and any text returned by
// validate_outbound (the channel's limits, e.g. too many buttons).
#include "lua/ctx.hpp"
#include "lua/json_lua.hpp"

#include <set>

namespace charla::lua::detail {
namespace {

using nlohmann::json;

// Runs `build` (C++ only, no Lua raising inside) and appends its message. Its locals
// are destroyed on return, so the caller can raise the Failure safely.
template <class Build>
Failure build_and_emit(Turn& turn, const char* method, Build& build) noexcept {
  Failure failure;
  try {
    json message;
    std::string error = build(message);
    if (error.empty() && turn.input.validate_outbound)
      if (auto refused = turn.input.validate_outbound(message)) error = *refused;
    if (!error.empty()) failure.set(std::string(method) + ": " + error);
    else turn.effects.outbound.push_back(std::move(message));
  } catch (const std::exception& e) {
    failure.set(std::string(method) + ": " + e.what());
  }
  return failure;
}

template <class Build>
int emit(lua_State* L, Turn& turn, const char* method, Build&& build) {
  const Failure failure = build_and_emit(turn, method, build);
  if (failure) return raise_failure(L, failure);
  return 0;
}

std::string text_of(std::string_view s) { return std::string(s); }

const std::string* string_field(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? &it->get_ref<const std::string&>() : nullptr;
}

// A button or list row: "Title" or {id=, title=, description=}; id defaults to title.
std::string choice(const json& item, bool with_description, json& out) {
  if (item.is_string()) {
    if (item.get_ref<const std::string&>().empty()) return "titles must not be empty";
    out = {{"id", item}, {"title", item}};
    return {};
  }
  if (!item.is_object()) return "each entry must be a string or a table {id=, title=}";
  const std::string* title = string_field(item, "title");
  if (!title || title->empty()) return "each entry needs a non-empty title";
  auto id = item.find("id");
  if (id != item.end() && !id->is_string() && !id->is_number_integer()) return "an entry's id must be a string";
  out = {{"id", id == item.end() ? json(*title) : id->is_string() ? *id : json(std::to_string(id->get<long long>()))},
         {"title", *title}};
  if (with_description)
    if (const std::string* d = string_field(item, "description")) out["description"] = *d;
  return {};
}

std::string choices(const json& items, bool with_description, json& out) {
  if (!items.is_array() || items.empty()) return "expected a non-empty array";
  out = json::array();
  for (const auto& item : items) {
    json entry;
    if (std::string e = choice(item, with_description, entry); !e.empty()) return e;
    out.push_back(std::move(entry));
  }
  return {};
}

std::string table_arg(lua_State* L, int index, const char* what, json& out) {
  std::string error;
  if (lua_type(L, index) != LUA_TTABLE) return std::string(what) + " must be a table";
  if (!to_json(L, index, out, error, what, "sent")) return error;
  return {};
}

// The message id to react to or mark read: the argument, else the current message's.
std::string_view target_message(lua_State* L, Turn& turn, int index, const char* method) {
  std::string_view id = opt_text(L, index, method, "message_id");
  if (id.empty()) id = turn.msg_id;
  if (id.empty()) luaL_error(L, "%s: no message to refer to (this turn has no inbound message; pass a message_id)", method);
  return id;
}

int ctx_say(lua_State* L) {
  Turn& turn = check_ctx(L, 1);
  const std::string_view text = check_text(L, 2, "ctx:say", "text");
  return emit(L, turn, "ctx:say", [&](json& m) {
    m = {{"type", "text"}, {"text", text_of(text)}};
    return std::string();
  });
}

int ctx_buttons(lua_State* L) {
  Turn& turn = check_ctx(L, 1);
  const std::string_view text = check_text(L, 2, "ctx:buttons", "text");
  luaL_checktype(L, 3, LUA_TTABLE);
  return emit(L, turn, "ctx:buttons", [&](json& m) {
    json items, buttons;
    if (std::string e = table_arg(L, 3, "buttons", items); !e.empty()) return e;
    if (std::string e = choices(items, false, buttons); !e.empty()) return "buttons: " + e;
    m = {{"type", "buttons"}, {"text", text_of(text)}, {"buttons", std::move(buttons)}};
    return std::string();
  });
}

// Sections {title=, rows={...}} or a flat array of rows (one untitled section).
std::string list_sections(const json& items, json& sections) {
  if (!items.is_array() || items.empty()) return "expected a non-empty array of rows or sections";
  sections = json::array();
  const bool sectioned = items[0].is_object() && items[0].contains("rows");
  if (!sectioned) {
    json rows;
    if (std::string e = choices(items, true, rows); !e.empty()) return "rows: " + e;
    sections.push_back({{"title", ""}, {"rows", std::move(rows)}});
    return {};
  }
  for (const auto& section : items) {
    if (!section.is_object() || !section.contains("rows")) return "every section needs rows";
    const std::string* title = string_field(section, "title");
    json rows;
    if (std::string e = choices(section["rows"], true, rows); !e.empty()) return "rows: " + e;
    sections.push_back({{"title", title ? *title : ""}, {"rows", std::move(rows)}});
  }
  return {};
}

int ctx_list(lua_State* L) {
  Turn& turn = check_ctx(L, 1);
  const std::string_view text = check_text(L, 2, "ctx:list", "text");
  const std::string_view label = check_text(L, 3, "ctx:list", "button label");
  luaL_checktype(L, 4, LUA_TTABLE);
  return emit(L, turn, "ctx:list", [&](json& m) {
    json items, sections;
    if (std::string e = table_arg(L, 4, "sections", items); !e.empty()) return e;
    if (std::string e = list_sections(items, sections); !e.empty()) return e;
    m = {{"type", "list"}, {"text", text_of(text)}, {"button", text_of(label)}, {"sections", std::move(sections)}};
    return std::string();
  });
}

std::string template_params(const json& params, json& m) {
  if (params.is_object() && params.contains("components")) {
    m["components"] = params["components"];
    return {};
  }
  if (params.is_object() && params.empty()) {
    m["parameters"] = json::array();
    return {};
  }
  if (!params.is_array()) return "params must be an array of strings or a table with components";
  json list = json::array();
  for (const auto& p : params) {
    if (p.is_string()) list.push_back(p);
    else if (p.is_number()) list.push_back(p.dump());
    else return "params must be strings";
  }
  m["parameters"] = std::move(list);
  return {};
}

int ctx_template(lua_State* L) {
  Turn& turn = check_ctx(L, 1);
  const std::string_view name = check_text(L, 2, "ctx:template", "name");
  const std::string_view language = check_text(L, 3, "ctx:template", "language");
  if (!lua_isnoneornil(L, 4)) luaL_checktype(L, 4, LUA_TTABLE);
  return emit(L, turn, "ctx:template", [&](json& m) {
    m = {{"type", "template"}, {"name", text_of(name)}, {"language", text_of(language)}};
    if (lua_isnoneornil(L, 4)) {
      m["parameters"] = json::array();
      return std::string();
    }
    json params;
    if (std::string e = table_arg(L, 4, "params", params); !e.empty()) return e;
    return template_params(params, m);
  });
}

std::string media_options(const json& options, json& m) {
  static const std::set<std::string> known{"link", "id", "caption", "filename"};
  for (auto it = options.begin(); it != options.end(); ++it) {
    if (!known.count(it.key())) return "unknown option '" + it.key() + "' (expected link, id, caption, filename)";
    if (!it->is_string()) return it.key() + " must be a string";
    m[it.key()] = *it;
  }
  if (m.contains("link") == m.contains("id")) return "give exactly one of link= or id=";
  return {};
}

int ctx_media(lua_State* L) {
  Turn& turn = check_ctx(L, 1);
  const std::string_view kind = check_text(L, 2, "ctx:media", "kind");
  static const std::set<std::string_view> kinds{"image", "audio", "video", "document", "sticker"};
  if (!kinds.count(kind))
    return luaL_error(L, "ctx:media: kind must be image, audio, video, document or sticker, got '%s'",
                      lua_tostring(L, 2));
  luaL_checktype(L, 3, LUA_TTABLE);
  return emit(L, turn, "ctx:media", [&](json& m) {
    json options;
    if (std::string e = table_arg(L, 3, "options", options); !e.empty()) return e;
    if (!options.is_object()) return std::string("options must be a table {link= | id=, caption=, filename=}");
    m = {{"type", text_of(kind)}};
    return media_options(options, m);
  });
}

int ctx_react(lua_State* L) {
  Turn& turn = check_ctx(L, 1);
  const std::string_view emoji = check_text(L, 2, "ctx:react", "emoji", true);  // "" removes a reaction
  const std::string_view id = target_message(L, turn, 3, "ctx:react");
  return emit(L, turn, "ctx:react", [&](json& m) {
    m = {{"type", "reaction"}, {"message_id", text_of(id)}, {"emoji", text_of(emoji)}};
    return std::string();
  });
}

int ctx_mark_read(lua_State* L) {
  Turn& turn = check_ctx(L, 1);
  const std::string_view id = target_message(L, turn, 2, "ctx:mark_read");
  return emit(L, turn, "ctx:mark_read", [&](json& m) {
    m = {{"type", "mark_read"}, {"message_id", text_of(id)}};
    return std::string();
  });
}

int ctx_cta_url(lua_State* L) {
  Turn& turn = check_ctx(L, 1);
  const std::string_view text = check_text(L, 2, "ctx:cta_url", "text");
  const std::string_view display = check_text(L, 3, "ctx:cta_url", "display_text");
  const std::string_view url = check_text(L, 4, "ctx:cta_url", "url");
  return emit(L, turn, "ctx:cta_url", [&](json& m) {
    m = {{"type", "cta_url"}, {"text", text_of(text)}, {"display_text", text_of(display)}, {"url", text_of(url)}};
    return std::string();
  });
}

std::string location_fields(const json& place, json& m) {
  if (!place.is_object()) return "expected a table {latitude=, longitude=, name=, address=}";
  for (const char* key : {"latitude", "longitude"}) {
    auto it = place.find(key);
    if (it == place.end() || !it->is_number()) return std::string(key) + " must be a number";
    m[key] = *it;
  }
  for (const char* key : {"name", "address"})
    if (auto it = place.find(key); it != place.end()) {
      if (!it->is_string()) return std::string(key) + " must be a string";
      m[key] = *it;
    }
  return {};
}

int ctx_location(lua_State* L) {
  Turn& turn = check_ctx(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  return emit(L, turn, "ctx:location", [&](json& m) {
    json place;
    if (std::string e = table_arg(L, 2, "location", place); !e.empty()) return e;
    m = {{"type", "location"}};
    return location_fields(place, m);
  });
}

}  // namespace

void register_say(lua_State* L) {
  add_ctx_method(L, "say", ctx_say);
  add_ctx_method(L, "buttons", ctx_buttons);
  add_ctx_method(L, "list", ctx_list);
  add_ctx_method(L, "template", ctx_template);
  add_ctx_method(L, "media", ctx_media);
  add_ctx_method(L, "react", ctx_react);
  add_ctx_method(L, "mark_read", ctx_mark_read);
  add_ctx_method(L, "cta_url", ctx_cta_url);
  add_ctx_method(L, "location", ctx_location);
}

}  // namespace charla::lua::detail
