// charla backup's copy (store/backup.hpp) and ReadTxn::count. Copying beside a running
// server is a two-process case: tests/integration/test_backup.py covers it.
#include <catch2/catch.hpp>

#include <fstream>

#include "store/backup.hpp"
#include "store/store.hpp"
#include "store_test_support.hpp"

using namespace charla::store;
using charla::store::test::data_dir;
using charla::store::test::test_options;
using charla::test::TempDir;

namespace {

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const StoreError& e) {
    return e.what();
  }
  return "<no StoreError>";
}

void fill(const std::filesystem::path& dir, int conversations) {
  auto store = Store::open(test_options(dir));
  store->write([&](WriteTxn& txn) {
    for (int i = 0; i < conversations; ++i) txn.put(Db::conv, "wa:" + std::to_string(i), R"({"state":"A"})");
    txn.put(Db::inbox, be64(1), "{}");
  });
  auto r = store->read();
  CHECK(r.count(Db::conv) == static_cast<std::uint64_t>(conversations));
  CHECK(r.count(Db::inbox) == 1);
  CHECK(r.count(Db::outbox) == 0);
  store->close();
}

}  // namespace

TEST_CASE("backup: the copy opens as a store with every conversation", "[store][backup]") {
  TempDir tmp;
  fill(data_dir(tmp), 300);
  auto result = backup(data_dir(tmp), tmp.path() / "copy");
  CHECK(result.file == tmp.path() / "copy" / "data.mdb");
  CHECK(result.conversations == 300);
  CHECK(result.schema_version == std::to_string(kSchemaVersion));
  CHECK(result.bytes == std::filesystem::file_size(result.file));

  auto restored = Store::open(test_options(tmp.path() / "copy"));
  auto r = restored->read();
  CHECK(r.count(Db::conv) == 300);
  CHECK(r.get(Db::conv, "wa:299") == R"({"state":"A"})");
  CHECK(r.get(Db::inbox, be64(1)) == "{}");
}

TEST_CASE("backup: refuses to overwrite, to copy onto itself, or to copy nothing", "[store][backup]") {
  TempDir tmp;
  fill(data_dir(tmp), 3);
  const auto dest = tmp.path() / "copy";
  backup(data_dir(tmp), dest);
  const auto size = std::filesystem::file_size(dest / "data.mdb");
  CHECK_THAT(error_of([&] { backup(data_dir(tmp), dest); }), Catch::Contains("already exists") &&
                                                                 Catch::Contains("nothing was overwritten"));
  CHECK(std::filesystem::file_size(dest / "data.mdb") == size);
  CHECK_THAT(error_of([&] { backup(data_dir(tmp), data_dir(tmp)); }), Catch::Contains("is the data directory itself"));
  std::filesystem::create_directories(tmp.path() / "empty");
  CHECK_THAT(error_of([&] { backup(tmp.path() / "empty", tmp.path() / "b"); }), Catch::Contains("no charla store in"));
  CHECK_FALSE(std::filesystem::exists(tmp.path() / "b" / "data.mdb"));
}
