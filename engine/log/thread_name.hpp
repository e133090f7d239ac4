#pragma once
// Names the calling thread ("writer", "worker-0", "http-0", ...), so that top -H, perf,
// gdb and /proc/PID/task/*/comm tell charla's threads apart. Linux keeps at most 15
// characters; longer names are cut, never refused.
#include <string>

namespace charla::log {

void name_this_thread(const std::string& name);

}  // namespace charla::log
