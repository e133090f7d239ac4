#include "net/h2c_connections.hpp"

namespace charla::net {

bool H2cConnections::start(const std::string& origin) {
  Origin& o = origins_[origin];
  ++o.in_flight;
  if (o.in_flight <= (o.claimed + o.sockets) * streams_) return false;
  ++o.claimed;
  return true;
}

void H2cConnections::socket_opened(const std::string& origin, int fd, bool first_socket) {
  Origin& o = origins_[origin];
  // A second socket of the same request (happy eyeballs' other address family) counts
  // as a connection too until it closes: over-counting only makes a request join.
  if (first_socket && o.claimed > 0) --o.claimed;
  ++o.sockets;
  socket_origin_[fd] = origin;
}

void H2cConnections::socket_closed(int fd) {
  auto it = socket_origin_.find(fd);
  if (it == socket_origin_.end()) return;
  auto o = origins_.find(it->second);
  if (o != origins_.end() && o->second.sockets > 0) --o->second.sockets;
  socket_origin_.erase(it);
}

void H2cConnections::finish(const std::string& origin, bool opens, bool socket_seen) {
  auto it = origins_.find(origin);
  if (it == origins_.end()) return;
  Origin& o = it->second;
  if (o.in_flight > 0) --o.in_flight;
  if (opens && !socket_seen && o.claimed > 0) --o.claimed;  // never got as far as connecting
  if (o.in_flight == 0 && o.claimed == 0 && o.sockets == 0) origins_.erase(it);
}

std::size_t H2cConnections::connections(const std::string& origin) const {
  auto it = origins_.find(origin);
  return it == origins_.end() ? 0 : it->second.claimed + it->second.sockets;
}

std::string url_origin(const std::string& url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  return url.substr(0, url.find_first_of("/?#", scheme_end + 3));
}

}  // namespace charla::net
