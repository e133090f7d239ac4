#include "log/thread_name.hpp"

#include <pthread.h>

namespace charla::log {

void name_this_thread(const std::string& name) {
  constexpr std::size_t kMax = 15;  // TASK_COMM_LEN - 1: pthread_setname_np fails beyond it
  pthread_setname_np(pthread_self(), name.substr(0, kMax).c_str());
}

}  // namespace charla::log
