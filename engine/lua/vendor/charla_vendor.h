/*
** The seam between charla and the Lua library code vendored in this directory
** (Lua 5.4.4's pattern matcher and table library, MIT: see each file's header).
**
** The stock C libraries run loops that never reach the VM's count hook, so a flow
** could hold its worker for minutes inside one call. The vendored copies report
** the work they do (matcher steps, elements moved, bytes scanned) through
** charla_lua_charge, which adds it to the running turn's instruction budget and
** checks the turn's wall-clock deadline. Both are charla's; everything else in
** the vendored files is Lua's code with the charges added.
*/
#ifndef CHARLA_LUA_VENDOR_H
#define CHARLA_LUA_VENDOR_H

#include <stddef.h>

#include "lua.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
** Costs in units, one unit being about one VM instruction (a few nanoseconds):
** measured so that a spent budget means about the same CPU time whatever the
** flow spent it on.
*/
#define CHARLA_BYTES_PER_UNIT 4   /* bytes copied or scanned */
#define CHARLA_STEP_UNITS 4       /* one step of the pattern matcher */
#define CHARLA_ELEMENT_UNITS 4    /* one table element read and written through the API */

/* The units for 'n' table elements, saturating instead of wrapping around. */
#define CHARLA_ELEMENTS(n)  \
  ((lua_Unsigned)(n) > (~(lua_Unsigned)0) / CHARLA_ELEMENT_UNITS  \
     ? ~(lua_Unsigned)0 : (lua_Unsigned)(n) * CHARLA_ELEMENT_UNITS)

/*
** Charges `units` of work to the budget of the turn (or flow file) running on L.
** When the instruction budget is spent or the deadline has passed, raises a Lua
** error naming `what` ("pattern matching", "table.move") and never returns; the
** flow's pcall cannot swallow it. Does nothing when no budget is running
** (host-side work).
*/
void charla_lua_charge(lua_State *L, lua_Unsigned units, const char *what);

/* Vendored string.find, string.match, string.gmatch and string.gsub. */
int charla_str_find(lua_State *L);
int charla_str_match(lua_State *L);
int charla_str_gmatch(lua_State *L);
int charla_str_gsub(lua_State *L);

/* Vendored table library: pushes a table like luaopen_table's. */
int charla_open_table(lua_State *L);

#ifdef __cplusplus
}
#endif

#endif
