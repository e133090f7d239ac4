#include "store/backup.hpp"

#include "store/lmdb_env.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace charla::store {

namespace fs = std::filesystem;

namespace {

constexpr unsigned kMaxDbs = 16;  // as the server opens it (lmdb_env.cpp)
// A server growing its map between our open and our read transaction makes LMDB answer
// MDB_MAP_RESIZED; adopting the new size and trying again is all it asks.
constexpr int kResizeRetries = 5;

// Closes the environment on every path out.
struct EnvHandle {
  MDB_env* env = nullptr;
  ~EnvHandle() {
    if (env) mdb_env_close(env);
  }
};

void fail(const std::string& what, int rc) { throw StoreError(what + ": " + detail::mdb_error(rc)); }

void fsync_file(const fs::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw StoreError("cannot open " + file.string() + " to flush it: " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw StoreError("cannot flush " + file.string() + " to disk: " + std::strerror(err));
}

// Opens the copy without a lock file (nothing else uses it yet) and reads what an
// operator wants to see: the schema version and how many conversations it holds.
void check_copy(const fs::path& dest_dir, BackupResult& result) {
  const std::string where = "the copy in " + dest_dir.string() + " cannot be read back";
  EnvHandle h;
  if (int rc = mdb_env_create(&h.env)) fail(where, rc);
  mdb_env_set_maxdbs(h.env, kMaxDbs);
  if (int rc = mdb_env_open(h.env, dest_dir.c_str(), MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS, 0600)) fail(where, rc);
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(h.env, nullptr, MDB_RDONLY, &txn)) fail(where, rc);
  detail::TxnGuard guard(txn);
  MDB_dbi conv = 0, meta = 0;
  if (int rc = mdb_dbi_open(txn, std::string(db_name(Db::conv)).c_str(), 0, &conv)) fail(where + " (conv)", rc);
  if (int rc = mdb_dbi_open(txn, std::string(db_name(Db::meta)).c_str(), 0, &meta)) fail(where + " (meta)", rc);
  MDB_stat st{};
  if (int rc = mdb_stat(txn, conv, &st)) fail(where, rc);
  result.conversations = st.ms_entries;
  MDB_val key = detail::as_val("schema_version"), value{};
  if (mdb_get(txn, meta, &key, &value) == MDB_SUCCESS) result.schema_version = std::string(detail::as_view(value));
}

}  // namespace

BackupResult backup(const fs::path& data_dir, const fs::path& dest_dir) {
  std::error_code ec;
  if (!fs::exists(data_dir / "data.mdb", ec))
    throw StoreError("no charla store in " + data_dir.string() + " (no data.mdb there): check --data or the config's data_dir");
  fs::create_directories(dest_dir, ec);
  if (ec) throw StoreError("cannot create backup directory " + dest_dir.string() + ": " + ec.message());
  if (fs::equivalent(data_dir, dest_dir, ec))
    throw StoreError("the backup directory is the data directory itself (" + dest_dir.string() + ")");
  BackupResult result;
  result.file = dest_dir / "data.mdb";
  if (fs::exists(result.file, ec))
    throw StoreError(result.file.string() + " already exists: back up into an empty directory (nothing was overwritten)");

  const std::string where = "cannot read the store in " + data_dir.string();
  EnvHandle h;
  if (int rc = mdb_env_create(&h.env)) fail(where, rc);
  mdb_env_set_maxdbs(h.env, kMaxDbs);
  // Read-only, but with the lock file: the server must see our reader so it keeps the
  // pages of our snapshot until the copy is done.
  if (int rc = mdb_env_open(h.env, data_dir.c_str(), MDB_RDONLY | MDB_NOTLS, 0600)) fail(where, rc);
  int rc = MDB_MAP_RESIZED;
  for (int attempt = 0; attempt < kResizeRetries && rc == MDB_MAP_RESIZED; ++attempt) {
    rc = mdb_env_copy2(h.env, dest_dir.c_str(), MDB_CP_COMPACT);
    if (rc == MDB_MAP_RESIZED) {
      fs::remove(result.file, ec);
      mdb_env_set_mapsize(h.env, 0);
    }
  }
  if (rc != MDB_SUCCESS) {
    fs::remove(result.file, ec);  // never leave a half copy that looks like a backup
    fail("cannot copy the store in " + data_dir.string() + " to " + dest_dir.string(), rc);
  }
  fsync_file(result.file);
  result.bytes = fs::file_size(result.file, ec);
  check_copy(dest_dir, result);
  return result;
}

}  // namespace charla::store
