// H2cConnections: which h2c request opens a connection (prior knowledge) and which joins
// one, so that libcurl 7.88 never reuses a prior-knowledge connection with a request that
// asks for prior knowledge again (net/h2c_connections.hpp).
#include "net/h2c_connections.hpp"

#include <catch2/catch.hpp>

using charla::net::H2cConnections;
using charla::net::url_origin;

TEST_CASE("h2c: the first request opens the connection, the next ones join it up to the stream limit", "[h2c]") {
  H2cConnections h2c(3);
  const std::string o = "http://127.0.0.1:8000";
  CHECK(h2c.start(o));         // opens
  CHECK_FALSE(h2c.start(o));   // joins while it is being set up
  CHECK_FALSE(h2c.start(o));
  CHECK(h2c.connections(o) == 1);
  h2c.socket_opened(o, 7, true);
  CHECK(h2c.connections(o) == 1);  // the claim became a socket
  CHECK(h2c.start(o));             // a 4th stream does not fit: a second connection
  CHECK(h2c.connections(o) == 2);
  CHECK(h2c.start("http://other:80"));  // another origin opens its own
}

TEST_CASE("h2c: after the connection closes, the next request opens a new one", "[h2c]") {
  H2cConnections h2c(100);
  const std::string o = "http://127.0.0.1:8000";
  REQUIRE(h2c.start(o));
  h2c.socket_opened(o, 7, true);
  h2c.finish(o, true, true);
  CHECK_FALSE(h2c.start(o));  // idle connection kept: joins it
  h2c.finish(o, false, false);
  h2c.socket_closed(7);
  CHECK(h2c.connections(o) == 0);
  CHECK(h2c.start(o));  // nothing left to join: prior knowledge again
}

TEST_CASE("h2c: a request that never got to connect gives its claim back", "[h2c]") {
  H2cConnections h2c(100);
  const std::string o = "http://127.0.0.1:8000";
  REQUIRE(h2c.start(o));
  h2c.finish(o, true, false);  // e.g. cancelled or failed before curl opened a socket
  CHECK(h2c.connections(o) == 0);
  CHECK(h2c.start(o));
}

TEST_CASE("h2c: origins are scheme and authority", "[h2c]") {
  CHECK(url_origin("http://127.0.0.1:8000/v1/chat/completions") == "http://127.0.0.1:8000");
  CHECK(url_origin("https://api.example.com/v1?x=1") == "https://api.example.com");
  CHECK(url_origin("http://host:1?q") == "http://host:1");
}
