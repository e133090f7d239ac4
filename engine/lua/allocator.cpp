#include "lua/allocator.hpp"

#include <cstdlib>

namespace charla::lua::detail {

// Lua calls this for every allocation, reallocation and free. When a growth is refused
// Lua runs an emergency full GC and retries once before raising LUA_ERRMEM, so the
// cap is on live data, not on garbage.
void* CountingAllocator::alloc(void* ud, void* ptr, std::size_t osize, std::size_t nsize) noexcept {
  auto* self = static_cast<CountingAllocator*>(ud);
  const std::size_t old = ptr ? osize : 0;  // without ptr, osize is a type tag
  if (nsize == 0) {
    std::free(ptr);
    self->used -= old;
    return nullptr;
  }
  if (nsize > old && self->enforce && self->used - old + nsize > self->limit) return nullptr;
  void* block = std::realloc(ptr, nsize);
  if (!block) return nullptr;
  self->used = self->used - old + nsize;
  return block;
}

}  // namespace charla::lua::detail
