// Arbitrary admin requests (method, path, query, JSON body) against the real admin
// routes (engine/http/admin_api.cpp, channels/whatsapp/admin_routes.cpp and the agent
// send and compatibility routes of channels/whatsapp/send_routes.cpp), served by
// the real HTTP server on 127.0.0.1 with a real engine and store behind it. The admin
// token is always right, so every input reaches the handlers.
// Invariants: the process never crashes (an exception escaping a handler ends it), every
// request gets a response within 10 s, and a JSON response is valid JSON.
//
// Input: byte 0 picks the method and the route prefix; the rest up to the first '\n'
// is appended to the path (percent-encoded, so the handler sees exactly these bytes
// after decoding; '/', '?', '=' and '&' stay literal so queries and actions are
// reachable); everything after the '\n' is the body.
#include "http/admin_api.hpp"
#include "http/server.hpp"
#include "runtime/clock.hpp"
#include "runtime/engine.hpp"
#include "runtime/event.hpp"
#include "store/store.hpp"
#include "whatsapp/admin_routes.hpp"
#include "whatsapp/agent_send.hpp"
#include "whatsapp/outbox_sender.hpp"
#include "whatsapp/send_routes.hpp"
#include "whatsapp/token_vault.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <unistd.h>

#include <cctype>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::ip::tcp;
using namespace charla;

constexpr const char* kToken = "fuzz-admin-token";

void require(bool condition) {
  if (!condition) std::abort();  // a broken invariant is a finding
}

constexpr const char* kFlow = R"lua(
return { name = 'fz', initial = 'A', states = {
  A = { message = function(ctx, msg) ctx.data.n = (ctx.data.n or 0) + 1 end },
  B = { message = function(ctx, msg) end } } }
)lua";

// Routes as the handlers are registered; byte 0 of the input picks one.
struct Target {
  bhttp::verb method;
  const char* prefix;
};
constexpr Target kTargets[] = {
    {bhttp::verb::get, "/admin/status"},
    {bhttp::verb::get, "/admin/conversations"},
    {bhttp::verb::get, "/admin/conversations/"},
    {bhttp::verb::get, "/admin/conversations/whatsapp:111:5215550001"},
    {bhttp::verb::post, "/admin/conversations/whatsapp:111:5215550001/"},
    {bhttp::verb::post, "/admin/conversations/"},
    {bhttp::verb::delete_, "/admin/conversations/"},
    {bhttp::verb::delete_, "/webhook/conversation/"},
    {bhttp::verb::get, "/webhook/conversations"},
    {bhttp::verb::get, "/admin/outbox"},
    {bhttp::verb::post, "/admin/outbox/"},
    {bhttp::verb::post, "/admin/whatsapp/"},
    {bhttp::verb::post, "/admin/whatsapp/111/"},
    {bhttp::verb::get, "/admin/handoffs"},
    {bhttp::verb::get, "/admin/flows/"},
    {bhttp::verb::post, "/admin/send"},
    {bhttp::verb::post, "/admin/send-interactive"},
    {bhttp::verb::post, "/whatsapp/send"},
    {bhttp::verb::post, "/whatsapp/send-interactive"},
    {bhttp::verb::post, "/api/integrations/whatsapp/send"},
    {bhttp::verb::get, "/whatsapp/status"},
    {bhttp::verb::get, "/admin/outbox/"},
};

struct Fixture {
  Fixture() {
    std::string dir = "/tmp/charla-fuzz-admin-XXXXXX";
    require(mkdtemp(dir.data()) != nullptr);
    root = dir;
    std::ofstream(root / "fz.lua") << kFlow;

    store::Store::Options so;
    so.dir = root / "data";
    so.map_size = 64ull << 20;
    so.durable = false;
    store = store::Store::open(so);

    runtime::EngineOptions eo;
    eo.workers = 1;
    eo.flows = {root / "fz.lua"};
    eo.timer_tick = std::chrono::milliseconds(0);
    engine = std::make_unique<runtime::Engine>(eo, *store, clock);

    // Port 9 refuses: a send the agent routes queue fails and is retried in the background.
    wa.api_base = "http://127.0.0.1:9";
    wa.numbers.push_back({"111", "", "fuzz-token", "fuzz-secret", 80});
    sender = std::make_unique<whatsapp::OutboxSender>(wa, *store, *engine);
    engine->add_channel(*sender);

    http::ServerOptions ho;
    ho.port = 0;
    server = std::make_unique<http::Server>(ho);
    http::install_admin_routes(*server, kToken, *engine);
    whatsapp::install_admin_routes(*server, kToken, *engine, *sender, wa, vault);
    agent_send = std::make_unique<whatsapp::AgentSend>(*engine, *sender, wa, 50);
    whatsapp::install_send_routes(*server, kToken, *engine, *agent_send, wa, *sender);
    engine->start();
    server->start();
    seed_conversation();
  }

  ~Fixture() {
    server->stop();
    sender->stop();
    engine->stop();
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
  }

  // One conversation exists, so state/pause/reset reach their real paths.
  void seed_conversation() {
    runtime::InboundEvent e;
    e.channel = "whatsapp";
    e.account = "111";
    e.user = "5215550001";
    e.conversation = runtime::conversation_key(e.channel, e.account, e.user);
    e.payload = {{"id", "wamid.seed"}, {"type", "text"}, {"text", "hola"}, {"from", e.user}};
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    engine->accept({e}, [&](const runtime::AcceptResult&) {
      std::lock_guard lock(m);
      done = true;
      cv.notify_all();
    });
    std::unique_lock lock(m);
    require(cv.wait_for(lock, std::chrono::seconds(30), [&] { return done; }));
  }

  // Sends one request on a keep-alive connection (reconnecting when the server closed
  // it) and returns the response.
  bhttp::response<bhttp::string_body> send(bhttp::request<bhttp::string_body>& req) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!stream) {
        stream = std::make_unique<beast::tcp_stream>(io);
        stream->expires_after(std::chrono::seconds(10));
        stream->connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server->port()));
      }
      beast::error_code ec;
      stream->expires_after(std::chrono::seconds(10));
      bhttp::write(*stream, req, ec);
      bhttp::response<bhttp::string_body> res;
      beast::flat_buffer buffer;
      if (!ec) bhttp::read(*stream, buffer, res, ec);
      if (!ec) {
        if (!res.keep_alive()) stream.reset();
        return res;
      }
      require(ec != beast::error::timeout);  // no answer within 10 s: a hang is a finding
      stream.reset();                        // closed by the server: one retry on a new connection
    }
    std::abort();
  }

  std::filesystem::path root;
  runtime::SystemClock clock;
  config::WhatsAppConfig wa;
  // A key, so token replacements are sealed into the store as in production.
  whatsapp::TokenVault vault{std::string(64, 'a')};
  std::unique_ptr<store::Store> store;
  std::unique_ptr<runtime::Engine> engine;
  std::unique_ptr<whatsapp::OutboxSender> sender;
  std::unique_ptr<whatsapp::AgentSend> agent_send;
  std::unique_ptr<http::Server> server;
  asio::io_context io;
  std::unique_ptr<beast::tcp_stream> stream;
};

std::string encode_path(std::string_view bytes) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : bytes) {
    if (std::isalnum(c) || c == '/' || c == '?' || c == '=' || c == '&' || c == '-' || c == '_' || c == '.' ||
        c == ':') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture fixture;
  if (size == 0) return 0;
  const Target& target = kTargets[data[0] % std::size(kTargets)];
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto eol = rest.find('\n');
  const std::string_view path = rest.substr(0, eol);
  const std::string_view body = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);

  bhttp::request<bhttp::string_body> req{target.method, std::string(target.prefix) + encode_path(path), 11};
  req.set(bhttp::field::host, "127.0.0.1");
  req.set(bhttp::field::authorization, std::string("Bearer ") + kToken);
  req.set(bhttp::field::content_type, "application/json");
  req.keep_alive(true);
  req.body() = std::string(body);
  req.prepare_payload();

  const auto res = fixture.send(req);
  require(res.result_int() >= 200 && res.result_int() < 600);
  if (res[bhttp::field::content_type].starts_with("application/json"))
    require(!nlohmann::json::parse(res.body(), nullptr, false).is_discarded());
  return 0;
}
