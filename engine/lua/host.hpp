#pragma once
// The state behind FlowHost, shared by the files that implement the Lua API. Every
// thread of the lua_State carries a Host* in its extra space (copied from the main
// thread at lua_newthread), so C functions, hooks and continuations find their host
// without globals.
//
// Invariants:
//  - `running` is the turn whose Lua code is executing right now (nullptr between
//    turns); ctx and msg objects are usable only while their turn is `running`.
//  - `budget` is what the count hook charges: the running turn's budget, the load
//    budget while a flow file executes, nullptr otherwise.
//  - A Turn lives in `turns` from run_turn until its Done is called; async callbacks
//    find it by generation and drop themselves when it is gone.
#include "lua/allocator.hpp"
#include "lua/flow_host.hpp"

#include <lua.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

namespace charla::lua::detail {

struct FlowRecord;
struct Turn;

// Instructions charged to a turn (or to a flow file while it loads), its wall-clock
// deadline, and why it was killed. `used` counts VM instructions plus the work done
// inside library functions (work_budget.hpp). A killed budget stays killed: the hook
// and the pcall wrappers re-raise.
struct Budget {
  enum class Kill { none, instructions, time, memory };
  std::uint64_t limit = 0;
  std::uint64_t used = 0;
  Kill kill = Kill::none;
  // Checked by the count hook and by library charges; max(): no deadline.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  std::chrono::milliseconds time_limit{0};  // for messages
  std::uint64_t clock_at = 0;               // `used` at which charges next read the clock
};

struct Host {
  Host(boost::asio::io_context& io, HostOptions options);
  ~Host();
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  boost::asio::io_context& io;
  HostOptions options;
  CountingAllocator allocator;  // declared before L: must outlive it
  lua_State* L = nullptr;
  int hook_step = 1000;         // instructions between count-hook calls

  std::map<std::string, std::shared_ptr<const FlowRecord>> flows;
  std::map<std::string, Plugin*> plugin_methods;  // ctx method name -> plugin
  std::unordered_map<std::uint64_t, std::unique_ptr<Turn>> turns;
  std::uint64_t next_generation = 1;
  std::size_t suspended = 0;
  Turn* running = nullptr;
  Budget* budget = nullptr;

  // Async callbacks hold a weak_ptr to this and drop themselves once the host is gone.
  std::shared_ptr<Host*> life;
};

// The block inside ctx and msg userdata: only the generation of the turn they belong
// to, so a dead object never points at freed memory.
struct ObjectBox {
  std::uint64_t generation;
};

inline Host& host_of(lua_State* L) { return **static_cast<Host**>(lua_getextraspace(L)); }

// Registry keys of the host's private tables.
inline constexpr const char* kCtxMethods = "charla.ctx.methods";
inline constexpr const char* kCtxGetters = "charla.ctx.getters";
inline constexpr const char* kCtxSetters = "charla.ctx.setters";
inline constexpr const char* kCtxMeta = "charla.ctx";
inline constexpr const char* kMsgMeta = "charla.msg";
inline constexpr const char* kEnvMeta = "charla.envmeta";
inline constexpr const char* kTurnThreads = "charla.turnthreads";  // weak set of turn coroutines

}  // namespace charla::lua::detail
