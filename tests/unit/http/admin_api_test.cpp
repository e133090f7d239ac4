// The admin API on a real Server and Engine over HTTP on 127.0.0.1: bytes that are not
// UTF-8, malformed bodies and unreadable stored rows are answered with a 4xx JSON error
// naming the problem, never a crash, and an unreadable conversation shows up as such.
#include "http/admin_api.hpp"
#include "runtime/quarantine.hpp"
#include "unit/runtime/runtime_fixture.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>

#include <future>

using namespace charla;
using namespace charla::testing;
using nlohmann::json;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace asio = boost::asio;

namespace {

const char* kToken = "admin-test-token";

struct Reply {
  unsigned status = 0;
  std::string body;
  json parsed() const { return json::parse(body, nullptr, false); }
};

struct Harness : EngineRig {
  std::unique_ptr<http::Server> server;

  Harness() : EngineRig(R"(
return { name = "echo", initial = "A",
  states = { A = { message = function(ctx, msg) ctx:say("eco " .. msg.text) end } } }
)") {
    http::ServerOptions server_options;
    server_options.port = 0;
    server = std::make_unique<http::Server>(server_options);
    http::install_admin_routes(*server, kToken, *engine);
  }
  void start() {
    engine->start();
    server->start();
  }
  ~Harness() {
    server->stop();
    engine->stop();
  }

  // One request on its own connection, bounded in time.
  Reply call(bhttp::verb method, const std::string& target, const std::string& body = {}) {
    asio::io_context io;
    beast::tcp_stream stream(io);
    bhttp::request<bhttp::string_body> req{method, target, 11};
    req.set(bhttp::field::host, "127.0.0.1");
    req.set(bhttp::field::authorization, std::string("Bearer ") + kToken);
    req.body() = body;
    req.prepare_payload();
    beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> res;
    bool finished = false;
    stream.expires_after(std::chrono::seconds(10));
    stream.async_connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), server->port()),
                         [&](beast::error_code ec) {
                           if (ec) return;
                           bhttp::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
                             if (ec) return;
                             bhttp::async_read(stream, buffer, res, [&](beast::error_code ec, std::size_t) {
                               finished = !ec;
                             });
                           });
                         });
    io.run_for(std::chrono::seconds(12));
    if (!finished) return {};
    return {res.result_int(), res.body()};
  }
  Reply get(const std::string& target) { return call(bhttp::verb::get, target); }
  Reply post(const std::string& target, const std::string& body = {}) { return call(bhttp::verb::post, target, body); }
};

// A 4xx answer with a JSON body whose "error" is a string.
void check_refused(const Reply& r, unsigned status, const std::string& mentions = {}) {
  INFO(r.status << " " << r.body);
  CHECK(r.status == status);
  auto j = r.parsed();
  REQUIRE(j.is_object());
  REQUIRE(j.contains("error"));
  REQUIRE(j["error"].is_string());
  if (!mentions.empty()) CHECK(j["error"].get<std::string>().find(mentions) != std::string::npos);
}

}  // namespace

TEST_CASE("admin requests with bytes that are not UTF-8 or bodies of the wrong shape get a 4xx JSON error") {
  Harness h;
  h.start();
  check_refused(h.get("/admin/conversations/%FF"), 404, "no conversation");
  check_refused(h.get("/admin/conversations/whatsapp:1:%FF%FE%C3"), 404, "no conversation");
  check_refused(h.post("/admin/conversations/%FF/pause"), 404, "no conversation");
  check_refused(h.post("/admin/conversations/%FF/%FE"), 404, "unknown action");
  check_refused(h.post("/admin/conversations/whatsapp:1:2/state", "{nope"), 400, "state");
  check_refused(h.post("/admin/conversations/whatsapp:1:2/state", "[1, 2]"), 400, "state");
  check_refused(h.post("/admin/conversations/whatsapp:1:2/state", R"({"state": 5})"), 400, "state");
  check_refused(h.post("/admin/conversations/whatsapp:1:2/state", "{\"state\": \"\xff\"}"), 400, "state");
  check_refused(h.post("/admin/conversations/%FF/state", R"({"state": "A"})"), 404, "no conversation");
  check_refused(h.get("/admin/conversations/" + std::string(600, 'a')), 400, "longer than");
  check_refused(h.call(bhttp::verb::delete_, "/webhook/conversation/" + std::string(600, 'a')), 400, "longer than");
  check_refused(h.post("/admin/quarantine/%FF/retry"), 400, "quarantine id");
  check_refused(h.post("/admin/quarantine/message:77/retry"), 404, "message:77");
  check_refused(h.call(bhttp::verb::delete_, "/admin/quarantine/message:77"), 404, "message:77");
  CHECK(h.get("/admin/conversations?limit=abc").status == 200);
  auto status = h.get("/admin/status");  // still serving
  CHECK(status.status == 200);
  CHECK(status.parsed()["running"] == true);
}

TEST_CASE("an unreadable stored conversation is listed as corrupt, shown in its detail and in the quarantine") {
  Harness h;
  const auto bad = runtime::conversation_key("test", "acct", "ana");
  h.store->write([&](store::WriteTxn& txn) { txn.put(store::Db::conv, bad, "{\"state\": \"A\", \"data\": \xff"); });
  h.start();
  accept_all(*h.engine, {text_event("ana", "hola", "w1"), text_event("bea", "hola", "w2")});
  REQUIRE(h.channel.wait_for(1));
  REQUIRE(eventually([&] { return h.engine->quarantine().size() == 1; }));

  auto list = h.get("/admin/conversations");
  REQUIRE(list.status == 200);
  auto items = list.parsed()["conversations"];
  REQUIRE(items.size() == 2);
  CHECK(items[0]["conversation"] == bad);
  CHECK(items[0]["corrupt"] == true);
  CHECK(items[1]["state"] == "A");

  auto detail = h.get("/admin/conversations/" + bad);
  REQUIRE(detail.status == 200);
  CHECK(detail.parsed()["corrupt"] == true);
  CHECK(detail.parsed()["quarantine"][0]["id"] == "conversation:" + bad);

  auto q = h.get("/admin/quarantine");
  REQUIRE(q.status == 200);
  CHECK(q.parsed()["quarantine"][0]["kind"] == "conversation");
  CHECK(h.get("/admin/status").parsed()["quarantine"]["conversations"] == 1);

  check_refused(h.post("/admin/conversations/" + bad + "/pause"), 409, "unreadable");
  // A reset forgets the unreadable record; the held message then runs.
  CHECK(h.post("/admin/conversations/" + bad + "/reset").status == 200);
  REQUIRE(h.channel.wait_for(2));
  CHECK(h.channel.texts(bad) == std::vector<std::string>{"eco hola"});
  CHECK(h.get("/admin/quarantine").parsed()["quarantine"].empty());
}

TEST_CASE("?paused=true lists the paused conversations page by page, read through the handoff index") {
  Harness h;
  h.start();
  std::vector<runtime::InboundEvent> events;
  for (auto user : {"u1", "u2", "u3", "u4", "u5"}) events.push_back(text_event(user, "hola", std::string("w-") + user));
  accept_all(*h.engine, events);
  REQUIRE(h.channel.wait_for(5));
  const auto u2 = runtime::conversation_key("test", "acct", "u2"), u4 = runtime::conversation_key("test", "acct", "u4");
  REQUIRE(h.post("/admin/conversations/" + u2 + "/pause").status == 200);
  REQUIRE(h.post("/admin/conversations/" + u4 + "/pause").status == 200);

  auto page = [&](const std::string& cursor) {
    auto r = h.get("/admin/conversations?paused=true&limit=1" + (cursor.empty() ? "" : "&cursor=" + cursor));
    REQUIRE(r.status == 200);
    return r.parsed();
  };
  auto walk = [&] {
    std::vector<std::string> keys;
    std::string cursor;
    for (int i = 0; i < 10; ++i) {  // bounded: two pages expected
      auto p = page(cursor);
      for (const auto& c : p["conversations"]) {
        CHECK(c["paused"] == true);
        keys.push_back(c["conversation"]);
      }
      if (!p.contains("next_cursor")) break;
      cursor = p["next_cursor"];
    }
    return keys;
  };
  CHECK(walk() == std::vector<std::string>{u2, u4});
  // Resumed: gone from the filter at once.
  REQUIRE(h.post("/admin/conversations/" + u2 + "/resume").status == 200);
  CHECK(walk() == std::vector<std::string>{u4});
  // Without the index (a data dir from an older charla, before its first start), the
  // scan of every record answers the same.
  h.store->write([](store::WriteTxn& txn) { txn.del(store::Db::meta, store::kPausedIndexMark); });
  CHECK(walk() == std::vector<std::string>{u4});
  CHECK(h.get("/admin/conversations?paused=false").parsed()["conversations"].size() == 4);
}
