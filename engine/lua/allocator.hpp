#pragma once
// Counting lua_Alloc with a hard cap (LuaSandbox's approach): a flow that allocates
// past HostOptions::memory_limit gets a Lua memory error inside its turn, and the
// process keeps running. The cap can be lifted for trusted host-side work (building
// the sandbox, validating a flow) where a Lua memory error would have nowhere to go.
#include <cstddef>

namespace charla::lua::detail {

struct CountingAllocator {
  std::size_t used = 0;
  std::size_t limit = 0;
  bool enforce = true;

  static void* alloc(void* ud, void* ptr, std::size_t osize, std::size_t nsize) noexcept;
};

// Lifts the cap for the lifetime of the guard (host-side code only, never flow code).
class CapLift {
 public:
  explicit CapLift(CountingAllocator& a) : a_(a), was_(a.enforce) { a_.enforce = false; }
  ~CapLift() { a_.enforce = was_; }
  CapLift(const CapLift&) = delete;
  CapLift& operator=(const CapLift&) = delete;

 private:
  CountingAllocator& a_;
  bool was_;
};

}  // namespace charla::lua::detail
