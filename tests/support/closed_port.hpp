#pragma once
// A 127.0.0.1 port with nobody listening, for tests of "connection refused": the
// port was free a moment ago (the kernel picked it) and is closed again on return.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstdint>

namespace charla::test {

inline std::uint16_t closed_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address_v4("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

}  // namespace charla::test
