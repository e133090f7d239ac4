#pragma once
// A loaded flow as the turn driver sees it. Handler functions live in one Lua array
// (registry ref `handlers_ref`); the C++ side keeps their indices, so looking one up
// during a turn is a raw array read that cannot raise or run flow code. A reload
// builds a new record; turns already running keep the old one alive through their
// shared_ptr and their own reference to its handler array.
#include "lua/flow_host.hpp"
#include "lua/local_time.hpp"

#include <lua.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace charla::lua::detail {

struct StateRecord {
  int enter = 0;        // 1-based index into the handler array, 0: none
  int message = 0;
  int leave = 0;
  int timeout_run = 0;
  std::int64_t timeout_ms = -1;  // -1: no state timeout
  std::map<std::string, int> timers;
};

struct FlowRecord {
  FlowInfo info;
  int handlers_ref = LUA_NOREF;  // owned by Host::flows; released when replaced
  std::map<std::string, StateRecord> states;
  std::map<std::string, int> timers;  // flow-level timers
  int migrate = 0;
  Zone zone = nullptr;                 // the flow's `timezone`; nullptr: UTC
  std::optional<OpenHours> open_hours;  // the flow's `open_hours`, if any
};

}  // namespace charla::lua::detail
