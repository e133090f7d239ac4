// FlowHost: wires the feature files together. The host only calls registrars and
// delegates; the Lua API lives in sandbox.cpp, ctx_*.cpp, turn*.cpp, flow_loader.cpp.
#include "log/log.hpp"
#include "lua/ctx.hpp"
#include "lua/flow_loader.hpp"
#include "lua/sandbox.hpp"
#include "lua/turn.hpp"

#include <algorithm>

namespace charla::lua {

namespace detail {
namespace {

// Reached only if Lua raises outside any protected call: a host bug, not a flow's.
int on_panic(lua_State* L) {
  const char* message = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
  log::error("lua_panic", {{"error", message}});
  return 0;  // Lua aborts
}

}  // namespace

Host::Host(boost::asio::io_context& io_context, HostOptions host_options)
    : io(io_context), options(std::move(host_options)), life(std::make_shared<Host*>(this)) {
  allocator.limit = options.memory_limit;
  CapLift lift(allocator);
  L = lua_newstate(CountingAllocator::alloc, &allocator);
  if (!L) throw std::runtime_error("cannot create a Lua state");
  // Copied into every thread created from now on.
  *static_cast<Host**>(lua_getextraspace(L)) = this;
  lua_atpanic(L, on_panic);
  hook_step = static_cast<int>(std::clamp<std::uint64_t>(options.instruction_budget, 1, 1000));
  open_sandbox(*this);
  create_ctx_metatables(L);
  register_say(L);
  register_data(L);
  register_control(L);
  register_time(L);
  register_settings(*this);
  register_emit(L);
}

Host::~Host() {
  life.reset();   // pending plugin completions and deadlines drop themselves
  turns.clear();  // suspended turns are dropped without calling Done: call cancel_all() first
  lua_close(L);
}

}  // namespace detail

struct FlowHost::Impl : detail::Host {
  using Host::Host;
};

FlowHost::FlowHost(boost::asio::io_context& io, HostOptions options)
    : impl_(std::make_unique<Impl>(io, std::move(options))) {}

FlowHost::~FlowHost() = default;

const FlowInfo& FlowHost::load_flow(const std::filesystem::path& file) {
  std::shared_ptr<detail::FlowRecord> record = detail::load_flow_file(*impl_, file);
  auto& slot = impl_->flows[record->info.name];
  // Turns running the old version hold their own reference to its handlers.
  if (slot) luaL_unref(impl_->L, LUA_REGISTRYINDEX, slot->handlers_ref);
  slot = std::move(record);
  return slot->info;
}

const FlowInfo* FlowHost::flow(const std::string& name) const {
  auto it = impl_->flows.find(name);
  return it == impl_->flows.end() ? nullptr : &it->second->info;
}

std::vector<std::string> FlowHost::flow_names() const {
  std::vector<std::string> names;
  for (const auto& [name, _] : impl_->flows) names.push_back(name);
  return names;
}

void FlowHost::register_plugin(Plugin& plugin) {
  detail::CapLift lift(impl_->allocator);
  for (const std::string& method : plugin.methods())
    if (!detail::register_plugin_method(*impl_, plugin, method))
      throw std::invalid_argument("plugin method ctx:" + method + " is already taken by another ctx method or field");
}

void FlowHost::run_turn(TurnInput input, Done done) { detail::run_turn(*impl_, std::move(input), std::move(done)); }

void FlowHost::cancel_all() { detail::cancel_suspended(*impl_, "shutting down"); }

std::size_t FlowHost::suspended_turns() const { return impl_->suspended; }

std::size_t FlowHost::memory_in_use() const { return impl_->allocator.used; }

}  // namespace charla::lua
