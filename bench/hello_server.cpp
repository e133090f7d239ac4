// hello_server: a bare Boost.Beast async HTTP server that answers 200 "ok" to any
// request. It is the ceiling for charla's webhook intake: same Beast version, same
// build flags, same connection shape as engine/http/server.cpp (http_server_async:
// one strand per connection, string_body parser with a body limit, an idle timeout,
// keep-alive; see bench_http_server.hpp), but no routing, no signature check, no JSON
// and no store.
//
//   hello_server [--port 18081] [--bind 127.0.0.1] [--threads 1] [--seconds 600]
//
// Exits on SIGINT/SIGTERM or after --seconds; prints the request count as JSON.
#include "bench_http_server.hpp"

#include <atomic>
#include <iostream>
#include <string>

using namespace charla::bench;

int main(int argc, char** argv) {
  ServerFlags flags;
  flags.port = 18081;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!flags.take(argv[i], argv[i + 1])) {
      std::cerr << "usage: hello_server [--port N] [--bind ADDR] [--threads N] [--seconds N]\n";
      return 2;
    }
  }
  std::atomic<std::uint64_t> requests{0};
  SessionOptions options;
  options.body_limit = 3u << 20;
  options.idle_timeout = std::chrono::seconds(60);
  BenchServer server(flags, options, [&requests](const Request&, Response& res) {
    ++requests;
    res.set(http::field::server, "hello");
    res.set(http::field::content_type, "text/plain");
    res.body() = "ok";
  });
  std::cerr << "hello_server: listening on " << flags.bind << ":" << server.port() << "\n";
  server.run(flags.threads, flags.seconds);
  std::cout << R"({"server":"hello","requests":)" << requests.load() << "}" << std::endl;
  return 0;
}
