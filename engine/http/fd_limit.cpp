#include "http/fd_limit.hpp"

#include <sys/resource.h>

namespace charla::http {
namespace {

std::uint64_t value(rlim_t limit) { return limit == RLIM_INFINITY ? 0 : static_cast<std::uint64_t>(limit); }

}  // namespace

FdLimit raise_fd_limit() {
  FdLimit out;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return out;
  out.before = out.soft = value(limit.rlim_cur);
  out.hard = value(limit.rlim_max);
  if (limit.rlim_cur != limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) out.soft = value(raised.rlim_cur);
  }
  return out;
}

std::uint64_t current_fd_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  return value(limit.rlim_cur);
}

}  // namespace charla::http
