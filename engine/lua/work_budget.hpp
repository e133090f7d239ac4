#pragma once
// Work done inside library functions, charged to the running turn's budget.
//
// The count hook only sees VM instructions: one call of a C library function
// (a backtracking pattern, string.rep("", n), table.move over 2^40 indices) could
// hold a worker for minutes between two hook calls. So every library function a
// flow can call whose work is not bounded by a small constant charges that work in
// units of about one VM instruction (per byte, matcher step and table element:
// vendor/charla_vendor.h), counted in Budget::used with the instructions. A charge past the instruction budget, or one made after the
// turn's wall-clock deadline, raises the budget error at once (the flow's pcall
// cannot catch it).
//
// Which functions charge (the rest do constant work or run Lua code, which the
// hook counts):
//   vendored (engine/lua/vendor/): string.find, match, gmatch, gsub; the table library
//   wrapped here: string.rep (refused past the memory cap before allocating),
//     byte, char, format, lower, upper, reverse, sub, pack, packsize, unpack, the
//     string arithmetic metamethods; utf8.char, codepoint, len, offset and the
//     utf8.codes iterator; tonumber, print; load (sandbox.cpp, by source bytes).
#include "lua/host.hpp"

#include <cstdint>

namespace charla::lua::detail {

// Charges `units` to the budget running on L; raises (never returns) when the
// instruction budget is spent or the deadline has passed. No-op without a budget.
void charge(lua_State* L, std::uint64_t units, const char* what);

// One unit per CHARLA_BYTES_PER_UNIT bytes, at least one.
std::uint64_t byte_units(std::size_t bytes);

// Kills `budget` with Kill::time when its deadline has passed; true if it did.
bool check_deadline(Budget& budget);

// Installs the vendored matcher, and wraps the string, utf8 and base functions
// listed above. Call after the standard libraries are open, before they are
// made read-only.
void install_charged_libraries(lua_State* L);

}  // namespace charla::lua::detail
