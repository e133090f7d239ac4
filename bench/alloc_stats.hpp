#pragma once
// The allocator's own count of live bytes, beside RSS: RSS also counts pages an earlier
// phase left resident (and that a later phase reuses), the allocator count does not.
//  - jemalloc (linked in, or LD_PRELOADed): mallctl "stats.allocated" after "epoch";
//    found with dlsym, so nothing here requires jemalloc at build or run time.
//  - glibc: mallinfo2(), bytes in use in chunks plus in mmapped blocks.
#include <dlfcn.h>
#include <malloc.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace charla::bench {

class AllocStats {
 public:
  AllocStats() : mallctl_(reinterpret_cast<Mallctl>(dlsym(RTLD_DEFAULT, "mallctl"))) {}

  std::string allocator() const { return mallctl_ ? "jemalloc" : "glibc"; }

  // Bytes the program has allocated and not freed; -1 if the allocator cannot say.
  long long live_bytes() const {
    if (mallctl_) {
      std::uint64_t epoch = 1;
      std::size_t len = sizeof epoch;
      mallctl_("epoch", &epoch, &len, &epoch, len);  // refreshes the cached statistics
      std::size_t allocated = 0;
      len = sizeof allocated;
      if (mallctl_("stats.allocated", &allocated, &len, nullptr, 0) != 0) return -1;
      return static_cast<long long>(allocated);
    }
    const struct mallinfo2 m = mallinfo2();
    return static_cast<long long>(m.uordblks + m.hblkhd);
  }

  // Gives free pages back to the kernel, so that an idle RSS baseline is not inflated by
  // what start-up freed.
  void release_free_memory() const {
    if (mallctl_) {
      // MALLCTL_ARENAS_ALL is 4096 in jemalloc 5.
      mallctl_("arena.4096.purge", nullptr, nullptr, nullptr, 0);
    } else {
      malloc_trim(0);
    }
  }

 private:
  using Mallctl = int (*)(const char*, void*, std::size_t*, void*, std::size_t);
  Mallctl mallctl_;
};

}  // namespace charla::bench
