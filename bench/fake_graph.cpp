// fake_graph: a minimal, fast fake of the WhatsApp Graph API for benchmarks.
//
//   POST /<version>/<phone-number-id>/messages  -> 200 with the real success body
//        {"messaging_product":"whatsapp","contacts":[{"input":..,"wa_id":..}],
//         "messages":[{"id":"wamid.<unique>"}]}
//   GET  /stats                                 -> {"requests":N,"first_ms":..,"last_ms":..,
//                                                   "per_second":[..]} (counting only sends)
//   anything else                               -> 404
//
// Counts sends per wall-clock second since start so the end-to-end rate (webhook ->
// turn -> commit -> Graph 200) can be read off. Handles `Expect: 100-continue`, which
// libcurl 7.x sends for bodies over 1 KiB.
//
//   fake_graph [--port 18082] [--bind 127.0.0.1] [--threads 1] [--seconds 600] [--quiet 1]
//
// Exits on SIGINT/SIGTERM or after --seconds and prints the stats JSON on stdout.
#include "bench_http_server.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>

using namespace charla::bench;
using Steady = std::chrono::steady_clock;

namespace {

constexpr std::size_t kSeconds = 3600;
const Steady::time_point g_start = Steady::now();
std::atomic<std::uint64_t> g_sends{0}, g_other{0}, g_continues{0}, g_wamids{0};
std::atomic<std::int64_t> g_first_ms{-1}, g_last_ms{-1};
std::array<std::atomic<std::uint64_t>, kSeconds> g_per_second{};

std::int64_t ms_since_start() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - g_start).count();
}

void count_send() {
  auto ms = ms_since_start();
  std::int64_t expected = -1;
  g_first_ms.compare_exchange_strong(expected, ms);
  g_last_ms = ms;
  ++g_sends;
  auto s = static_cast<std::size_t>(ms / 1000);
  if (s < kSeconds) ++g_per_second[s];
}

std::string stats_json() {
  std::ostringstream o;
  auto last = g_last_ms.load();
  auto first = g_first_ms.load();
  o << "{\"requests\":" << g_sends.load() << ",\"other_requests\":" << g_other.load()
    << ",\"expect_100_continue\":" << g_continues.load() << ",\"first_ms\":" << first << ",\"last_ms\":" << last
    << ",\"now_ms\":" << ms_since_start() << ",\"per_second\":[";
  if (first >= 0) {
    for (auto s = static_cast<std::size_t>(first / 1000); s <= static_cast<std::size_t>(last / 1000) && s < kSeconds; ++s)
      o << (s > static_cast<std::size_t>(first / 1000) ? "," : "") << g_per_second[s].load();
  }
  o << "]}";
  return o.str();
}

// The recipient as sent ("to":"..."), for the contacts block of the answer.
std::string recipient(const std::string& body) {
  auto k = body.find("\"to\"");
  if (k == std::string::npos) return "0";
  auto q1 = body.find('"', body.find(':', k) + 1);
  auto q2 = q1 == std::string::npos ? q1 : body.find('"', q1 + 1);
  if (q2 == std::string::npos) return "0";
  return body.substr(q1 + 1, q2 - q1 - 1);
}

bool is_send_path(std::string_view target) {
  // /<version>/<id>/messages
  constexpr std::string_view suffix = "/messages";
  return target.size() > suffix.size() && target.substr(target.size() - suffix.size()) == suffix &&
         target.size() > 2 && target[0] == '/' && target[1] == 'v';
}

// The answer to one request; runs on any server thread.
void respond(const Request& req, Response& res) {
  res.set(http::field::content_type, "application/json");
  const std::string_view target(req.target().data(), req.target().size());
  if (req.method() == http::verb::post && is_send_path(target)) {
    count_send();
    const auto to = recipient(req.body());
    res.body() = R"({"messaging_product":"whatsapp","contacts":[{"input":")" + to + R"(","wa_id":")" + to +
                 R"("}],"messages":[{"id":"wamid.FAKEGRAPH)" + std::to_string(++g_wamids) + R"("}]})";
  } else if (req.method() == http::verb::get && target == "/stats") {
    res.body() = stats_json();
  } else {
    ++g_other;
    res.result(http::status::not_found);
    res.body() = R"({"error":{"message":"unknown path","type":"OAuthException","code":100}})";
  }
}

}  // namespace

int main(int argc, char** argv) {
  ServerFlags flags;
  flags.port = 18082;
  bool quiet = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view key = argv[i];
    if (key == "--quiet") quiet = std::string_view(argv[i + 1]) != "0";
    else if (!flags.take(key, argv[i + 1])) {
      std::cerr << "usage: fake_graph [--port N] [--bind ADDR] [--threads N] [--seconds N] [--quiet 0|1]\n";
      return 2;
    }
  }
  SessionOptions options;
  options.body_limit = 8u << 20;
  options.idle_timeout = std::chrono::seconds(120);
  options.answer_expect_continue = true;
  options.on_continue = [] { ++g_continues; };
  BenchServer server(flags, options, respond);

  // Once a second: the sends of the last second, on stderr.
  asio::steady_timer ticker(server.io());
  std::uint64_t last_count = 0;
  std::function<void()> tick = [&] {
    ticker.expires_after(std::chrono::seconds(1));
    ticker.async_wait([&](beast::error_code ec) {
      if (ec) return;
      auto n = g_sends.load();
      if (!quiet && n != last_count) std::cerr << "fake_graph: " << n << " sends, " << (n - last_count) << "/s\n";
      last_count = n;
      tick();
    });
  };
  tick();
  std::cerr << "fake_graph: listening on " << flags.bind << ":" << server.port() << "\n";
  server.run(flags.threads, flags.seconds);
  std::cout << stats_json() << std::endl;
  return 0;
}
