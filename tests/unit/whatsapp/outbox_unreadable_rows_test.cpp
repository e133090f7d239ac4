// Outbox rows this version cannot read (torn or foreign JSON) never take the sender
// down: a status webhook for one is answered as handled (Meta would otherwise redeliver
// it for days) and leaves the row as it is; a retry is refused naming the row.
#include "support/temp_dir.hpp"
#include "whatsapp/outbox_sender.hpp"

#include <catch2/catch.hpp>

#include <future>

using nlohmann::json;
namespace runtime = charla::runtime;
namespace store = charla::store;

namespace {

std::string wait(std::future<std::string> f) {
  REQUIRE(f.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  return f.get();
}

}  // namespace

TEST_CASE("a status webhook or a retry for an unreadable outbox row gets a clear answer, the row stays", "[whatsapp][sender]") {
  charla::test::TempDir dir;
  store::Store::Options options;
  options.dir = dir.path() / "data";
  options.durable = false;
  auto db = store::Store::open(options);
  runtime::SystemClock clock;
  runtime::EngineOptions eo;
  eo.workers = 1;
  runtime::Engine engine(eo, *db, clock);
  charla::config::WhatsAppConfig config;
  config.api_base = "http://127.0.0.1:9";  // never called here
  charla::whatsapp::OutboxSender sender(config, *db, engine);

  const std::string torn = "{\"status\": \"dead\", \"to\": \xff";
  db->write([&](store::WriteTxn& txn) {
    txn.put(store::Db::outbox, store::be64(7), torn);
    txn.put(store::Db::outbox_by_wamid, "wamid.X", store::be64(7));
    txn.put(store::Db::outbox, store::be64(8), R"(["not", "a", "row"])");
  });

  std::promise<std::string> status_done;
  sender.apply_status("wamid.X", "delivered", 1700000000, json(), [&](const std::string& e) { status_done.set_value(e); });
  CHECK(wait(status_done.get_future()).empty());

  for (std::uint64_t seq : {7, 8}) {
    std::promise<std::string> retry_done;
    sender.retry_row(seq, [&](const std::string& e) { retry_done.set_value(e); });
    auto error = wait(retry_done.get_future());
    CHECK(error.find("outbox row " + std::to_string(seq) + " is unreadable") != std::string::npos);
  }
  CHECK(db->read().get(store::Db::outbox, store::be64(7)) == torn);
  sender.stop();
}
