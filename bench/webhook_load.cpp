// webhook_load: a load generator for WhatsApp webhook intake (Boost.Beast client).
//
// POSTs signed single-message text webhooks (the shape of
// shared/whatsapp/payloads/01-text.json) over keep-alive connections, one request in
// flight per connection, and reports requests/s, ack latency and non-200 counts.
// Every request has a unique wamid; users are spread over --users numbers (request i
// goes to user i % users, and its text follows the insurance script by how often that
// user has written: "hola", "35", "no", "500000", "2"). Bodies and their
// `X-Hub-Signature-256: sha256=<HMAC-SHA256(secret, body)>` are generated before the
// clock starts, so the generator's own cost is only the socket I/O.
//
// Modes:
//   max throughput (--rate 0, default): every connection sends its next request as soon
//     as the previous one is answered; --requests N in total.
//   fixed rate (--rate R): request i is due at start + i/R; latency is measured from the
//     due time (so a slow server cannot hide queueing: no coordinated omission) and
//     also from the actual send; --requests N or --duration S (N = R*S).
//
//   webhook_load --port 8080 [--host 127.0.0.1] [--path /webhook/whatsapp]
//                [--connections 64] [--requests 50000] [--rate 0] [--duration S]
//                [--users 10000] [--secret S | env WHATSAPP_APP_SECRET]
//                [--phone-number-id 100000000000001] [--max-seconds 120] [--threads 1]
//                [--label NAME]
// Prints one JSON object on stdout.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Steady = std::chrono::steady_clock;

namespace {

struct Args {
  std::string host = "127.0.0.1";
  std::string port = "8080";
  std::string path = "/webhook/whatsapp";
  int connections = 64;
  std::uint64_t requests = 50'000;
  double rate = 0;           // 0: max throughput
  double duration = 0;       // rate mode: requests = rate * duration
  std::uint64_t users = 10'000;
  std::string secret;
  std::string phone_number_id = "100000000000001";
  double max_seconds = 120;
  int threads = 1;
  std::string label = "webhook_load";
};

const char* kScript[] = {"hola", "35", "no", "500000", "2"};

std::string hmac_hex(const std::string& key, const std::string& body) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(body.data()),
       body.size(), md, &len);
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(hex[md[i] >> 4]);
    out.push_back(hex[md[i] & 15]);
  }
  return out;
}

// One whole HTTP/1.1 request, bytes ready for the socket.
std::string make_request(const Args& a, std::uint64_t i, const std::string& run_id) {
  const std::uint64_t user_index = i % a.users;
  const std::string user = std::to_string(5215550000000ull + user_index);
  const char* text = kScript[(i / a.users) % 5];
  const std::string wamid = "wamid.BENCH" + run_id + "." + std::to_string(i);
  const std::string ts = std::to_string(1793000000 + i / 1000);
  std::string body;
  body.reserve(700);
  body += R"({"object":"whatsapp_business_account","entry":[{"id":"200000000000001","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"5215550009001","phone_number_id":")";
  body += a.phone_number_id;
  body += R"("},"contacts":[{"profile":{"name":"Mar\u00eda Fernanda L\u00f3pez"},"wa_id":")";
  body += user;
  body += R"("}],"messages":[{"from":")";
  body += user;
  body += R"(","id":")";
  body += wamid;
  body += R"(","timestamp":")";
  body += ts;
  body += R"(","type":"text","text":{"body":")";
  body += text;
  body += R"("}}]},"field":"messages"}]}]})";
  std::string req;
  req.reserve(body.size() + 300);
  req += "POST " + a.path + " HTTP/1.1\r\n";
  req += "Host: " + a.host + ":" + a.port + "\r\n";
  req += "User-Agent: facebookexternalua\r\n";
  req += "Content-Type: application/json\r\n";
  req += "X-Hub-Signature-256: sha256=" + hmac_hex(a.secret, body) + "\r\n";
  req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  req += body;
  return req;
}

struct Shared {
  const Args& a;
  std::vector<std::string> requests;
  std::atomic<std::uint64_t> next{0};
  Steady::time_point t0;
  Steady::time_point stop_issuing;
  std::mutex m;
  std::vector<std::uint32_t> lat_send_us, lat_due_us;
  std::map<unsigned, std::uint64_t> statuses;
  std::uint64_t errors = 0, reconnects = 0, completed = 0;
  Steady::time_point last_done;
  explicit Shared(const Args& args) : a(args) {}

  Steady::time_point due(std::uint64_t i) const {
    if (a.rate <= 0) return t0;
    return t0 + std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(static_cast<double>(i) / a.rate));
  }
};

class Conn : public std::enable_shared_from_this<Conn> {
 public:
  Conn(asio::io_context& io, Shared& s, tcp::resolver::results_type endpoints)
      : s_(s), stream_(asio::make_strand(io)), timer_(stream_.get_executor()), endpoints_(std::move(endpoints)) {}

  void connect(std::function<void()> connected) {
    stream_.expires_after(std::chrono::seconds(10));
    stream_.async_connect(endpoints_, [self = shared_from_this(), connected](beast::error_code ec, const tcp::endpoint&) {
      if (ec) {
        std::lock_guard lock(self->s_.m);
        ++self->s_.errors;
      } else {
        self->stream_.socket().set_option(tcp::no_delay(true));
        self->connected_ = true;
      }
      connected();
    });
  }

  void start() { asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->next(); }); }

 private:
  void next() {
    if (Steady::now() >= s_.stop_issuing) return;
    i_ = s_.next++;
    if (i_ >= s_.requests.size()) return;
    auto due = s_.due(i_);
    if (due > Steady::now()) {
      timer_.expires_at(due);
      timer_.async_wait([self = shared_from_this()](beast::error_code) { self->send(); });
      return;
    }
    send();
  }

  void send() {
    if (!connected_) return reconnect_and_send();
    sent_at_ = Steady::now();
    stream_.expires_after(std::chrono::seconds(30));
    asio::async_write(stream_, asio::buffer(s_.requests[i_]), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->fail();
      self->res_.emplace();
      http::async_read(self->stream_, self->buffer_, *self->res_, [self](beast::error_code rec, std::size_t) {
        if (rec) return self->fail();
        self->done();
      });
    });
  }

  void done() {
    auto now = Steady::now();
    auto us = [&](Steady::time_point from) {
      return static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(now - from).count());
    };
    bool keep = res_->keep_alive();
    {
      std::lock_guard lock(s_.m);
      s_.lat_send_us.push_back(us(sent_at_));
      s_.lat_due_us.push_back(us(std::min(sent_at_, s_.due(i_))));
      ++s_.statuses[res_->result_int()];
      ++s_.completed;
      s_.last_done = now;
    }
    if (!keep) connected_ = false;
    next();
  }

  void fail() {
    {
      std::lock_guard lock(s_.m);
      ++s_.errors;
    }
    connected_ = false;
    beast::error_code ec;
    stream_.socket().close(ec);
    if (++failures_ > 20) return;  // give up on this connection
    next();
  }

  void reconnect_and_send() {
    {
      std::lock_guard lock(s_.m);
      ++s_.reconnects;
    }
    buffer_.clear();
    beast::error_code ignored;
    stream_.socket().close(ignored);
    stream_.expires_after(std::chrono::seconds(10));
    stream_.async_connect(endpoints_, [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
      if (ec) return self->fail();
      self->connected_ = true;
      self->send();
    });
  }

  Shared& s_;
  beast::tcp_stream stream_;
  asio::steady_timer timer_;
  tcp::resolver::results_type endpoints_;
  beast::flat_buffer buffer_;
  std::optional<http::response<http::string_body>> res_;
  std::uint64_t i_ = 0;
  Steady::time_point sent_at_;
  bool connected_ = false;
  int failures_ = 0;
};

std::string percentiles(std::vector<std::uint32_t> v) {
  if (v.empty()) return R"({"count":0})";
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))] / 1000.0; };
  double sum = 0;
  for (auto x : v) sum += x;
  char buf[256];
  std::snprintf(buf, sizeof buf,
                R"({"count":%zu,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"p999_ms":%.3f,"max_ms":%.3f,"mean_ms":%.3f})",
                v.size(), at(0.5), at(0.9), at(0.99), at(0.999), v.back() / 1000.0, sum / static_cast<double>(v.size()) / 1000.0);
  return buf;
}

Args parse(int argc, char** argv) {
  Args a;
  if (const char* s = std::getenv("WHATSAPP_APP_SECRET")) a.secret = s;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (i + 1 >= argc) throw std::invalid_argument("missing value for " + k);
    std::string v = argv[++i];
    if (k == "--host") a.host = v;
    else if (k == "--port") a.port = v;
    else if (k == "--path") a.path = v;
    else if (k == "--connections") a.connections = std::stoi(v);
    else if (k == "--requests") a.requests = std::stoull(v);
    else if (k == "--rate") a.rate = std::stod(v);
    else if (k == "--duration") a.duration = std::stod(v);
    else if (k == "--users") a.users = std::stoull(v);
    else if (k == "--secret") a.secret = v;
    else if (k == "--phone-number-id") a.phone_number_id = v;
    else if (k == "--max-seconds") a.max_seconds = std::stod(v);
    else if (k == "--threads") a.threads = std::stoi(v);
    else if (k == "--label") a.label = v;
    else throw std::invalid_argument("unknown flag " + k);
  }
  if (a.rate > 0 && a.duration > 0) a.requests = static_cast<std::uint64_t>(a.rate * a.duration);
  if (a.connections < 1 || a.requests < 1 || a.users < 1 || a.threads < 1)
    throw std::invalid_argument("--connections, --requests, --users and --threads must be positive");
  if (a.requests > 2'000'000) throw std::invalid_argument("--requests is capped at 2,000,000 (memory)");
  if (a.secret.empty()) throw std::invalid_argument("no secret: pass --secret or set WHATSAPP_APP_SECRET");
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  try {
    a = parse(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "webhook_load: " << e.what() << "\n";
    return 2;
  }
  Shared s(a);
  const std::string run_id = std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 1'000'000'000'000);
  s.requests.reserve(a.requests);
  for (std::uint64_t i = 0; i < a.requests; ++i) s.requests.push_back(make_request(a, i, run_id));
  s.lat_send_us.reserve(a.requests);
  s.lat_due_us.reserve(a.requests);

  asio::io_context io;
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(a.host, a.port);
  std::vector<std::shared_ptr<Conn>> conns;
  int pending = a.connections;
  for (int c = 0; c < a.connections; ++c) {
    conns.push_back(std::make_shared<Conn>(io, s, endpoints));
    conns.back()->connect([&pending] { --pending; });
  }
  // Connect everything first (single-threaded here, so `pending` needs no lock).
  auto connect_deadline = Steady::now() + std::chrono::seconds(10);
  while (pending > 0 && Steady::now() < connect_deadline) io.run_one_for(std::chrono::milliseconds(100));
  io.restart();

  s.t0 = Steady::now() + std::chrono::milliseconds(10);
  s.stop_issuing = s.t0 + std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(a.max_seconds));
  s.last_done = s.t0;
  for (auto& c : conns) c->start();
  std::vector<std::thread> pool;
  for (int t = 1; t < a.threads; ++t) pool.emplace_back([&] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();

  std::lock_guard lock(s.m);
  const double secs = std::chrono::duration<double>(s.last_done - s.t0).count();
  std::uint64_t ok = s.statuses.count(200) ? s.statuses[200] : 0;
  std::string statuses = "{";
  for (auto& [code, n] : s.statuses) statuses += (statuses.size() > 1 ? "," : "") + ("\"" + std::to_string(code) + "\":" + std::to_string(n));
  statuses += "}";
  std::cout << "{\"label\":\"" << a.label << "\",\"mode\":\"" << (a.rate > 0 ? "fixed_rate" : "max_throughput")
            << "\",\"connections\":" << a.connections << ",\"requests_planned\":" << a.requests
            << ",\"completed\":" << s.completed << ",\"ok_200\":" << ok << ",\"non_200\":" << (s.completed - ok)
            << ",\"statuses\":" << statuses << ",\"errors\":" << s.errors << ",\"reconnects\":" << s.reconnects
            << ",\"seconds\":" << secs << ",\"requests_per_s\":" << (secs > 0 ? static_cast<double>(s.completed) / secs : 0)
            << ",\"ok_per_s\":" << (secs > 0 ? static_cast<double>(ok) / secs : 0);
  if (a.rate > 0) std::cout << ",\"offered_rate\":" << a.rate;
  std::cout << ",\"latency_from_send\":" << percentiles(s.lat_send_us);
  if (a.rate > 0) std::cout << ",\"latency_from_due\":" << percentiles(s.lat_due_us);
  std::cout << "}" << std::endl;
  return 0;
}
