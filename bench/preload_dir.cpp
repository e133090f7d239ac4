// preload_dir: writes N finished conversations (bench/preload.hpp) into a charla data
// dir that `charla serve` can then open, for the 1M-conversation figures of issue 11
// (GET /metrics and GET /admin/handoffs latency, intake with 1M conversations present).
//
//   preload_dir --dir /tmp/million/data --conversations 1000000 --paused-every 10000
//               [--timeout 600] [--durable 0|1] [--without-index 1]
//
// --without-index 1 then removes the handoff index and its meta mark, leaving the dir as
// a charla from before the index would (to time the index build at the next start).
//
// Prints one JSON object: conversations written, seconds, data.mdb size. Exit 1 if the
// load did not complete before --timeout.
#include "log/log.hpp"
#include "preload.hpp"
#include "store/store.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace charla;

int main(int argc, char** argv) {
  fs::path dir;
  std::uint64_t n = 1'000'000, paused_every = 10'000;
  double timeout_s = 600;
  bool durable = false;  // the dir is closed (and its pages written) before this exits
  bool without_index = false;
  try {
    for (int i = 1; i < argc; ++i) {
      std::string k = argv[i];
      if (i + 1 >= argc) throw std::invalid_argument("missing value for " + k);
      std::string v = argv[++i];
      if (k == "--dir") dir = v;
      else if (k == "--conversations") n = std::stoull(v);
      else if (k == "--paused-every") paused_every = std::stoull(v);
      else if (k == "--timeout") timeout_s = std::stod(v);
      else if (k == "--durable") durable = v == "1";
      else if (k == "--without-index") without_index = v == "1";
      else throw std::invalid_argument("unknown flag " + k);
    }
    if (dir.empty()) throw std::invalid_argument("--dir is required");
  } catch (const std::exception& e) {
    std::cerr << e.what()
              << "\nusage: preload_dir --dir DIR [--conversations N] [--paused-every K] [--timeout S] [--durable 0|1] [--without-index 1]\n";
    return 2;
  }
  log::set_level(log::Level::warn);
  try {
    store::Store::Options o;
    o.dir = dir;
    o.durable = durable;
    auto store = store::Store::open(o);
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(timeout_s));
    auto r = bench::preload_conversations(*store, n, deadline, 1000, 8, paused_every);
    if (without_index) {
      store->write([](store::WriteTxn& txn) {
        std::vector<std::string> rows;
        txn.scan(store::Db::paused, "", [&](std::string_view k, std::string_view) {
          rows.emplace_back(k);
          return true;
        });
        for (const auto& k : rows) txn.del(store::Db::paused, k);
        txn.del(store::Db::meta, store::kPausedIndexMark);
      });
    }
    store->close();
    std::error_code ec;
    const auto bytes = fs::file_size(dir / "data.mdb", ec);
    nlohmann::json out{{"conversations", r.conversations}, {"paused", paused_every ? (r.conversations + paused_every - 1) / paused_every : 0},
                       {"complete", r.complete}, {"error", r.error}, {"seconds", r.seconds},
                       {"data_mdb_bytes", ec ? 0 : bytes}};
    std::cout << out.dump() << std::endl;
    return r.complete ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "preload_dir: " << e.what() << "\n";
    return 1;
  }
}
