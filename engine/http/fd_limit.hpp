#pragma once
// The process's open-file limit (RLIMIT_NOFILE): every HTTP connection costs one fd,
// and a server that runs out cannot even accept /healthz.
#include <cstdint>

namespace charla::http {

struct FdLimit {
  std::uint64_t before = 0;  // soft limit found at start; 0 = unlimited
  std::uint64_t soft = 0;    // soft limit now; 0 = unlimited
  std::uint64_t hard = 0;    // 0 = unlimited
};

// Raises the soft limit to the hard limit (distributions default to a soft 1024 with
// a much higher hard limit). Never fails: on error the limits stay as they were.
FdLimit raise_fd_limit();
// The soft limit in force; 0 = unlimited.
std::uint64_t current_fd_limit();

}  // namespace charla::http
