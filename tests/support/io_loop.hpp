#pragma once
// Driving an io_context from a test thread, always bounded in time: handlers run one
// at a time until a condition holds or the limit passes, so a lost callback fails the
// test instead of hanging it.
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>

namespace charla::test {

// Runs handlers until `done` holds or `limit` passes; returns done().
inline bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
                      std::chrono::milliseconds limit = std::chrono::seconds(15)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < end) {
    if (io.stopped()) io.restart();
    io.run_one_for(std::chrono::milliseconds(5));
  }
  return done();
}

// Keeps handlers flowing for `d` (to prove that nothing else arrives).
inline void run_for(boost::asio::io_context& io, std::chrono::milliseconds d) {
  run_until(io, [] { return false; }, d);
}

}  // namespace charla::test
