#include "store/lmdb_env.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <set>
#include <system_error>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace charla::store::detail {
namespace fs = std::filesystem;

namespace {

constexpr unsigned kMaxDbs = 16;       // the 11 of Db, with room for later schemas
constexpr unsigned kMaxReaders = 512;  // concurrent ReadTxns across the process
constexpr mdb_mode_t kFileMode = 0600; // conversations are personal data
constexpr std::string_view kSchemaKey = "schema_version";

// LMDB must not open the same environment twice in one process: its POSIX locks
// would not exclude the second open and both would reset the reader table.
std::mutex g_open_dirs_mutex;
std::set<std::string> g_open_dirs;

void claim_dir(Env& env, const fs::path& dir) {
  std::error_code ec;
  std::string key = fs::canonical(dir, ec).string();
  if (ec) throw StoreError("cannot resolve data dir " + dir.string() + ": " + ec.message());
  std::lock_guard lock(g_open_dirs_mutex);
  if (!g_open_dirs.insert(key).second)
    throw StoreError("data dir " + dir.string() + " is already open in this process");
  env.registered_dir = std::move(key);
}

std::string errno_text(int err) { return std::strerror(err); }

// The pid the holder wrote into the lock file, for the message; empty if unreadable.
std::string lock_holder(int fd) {
  char buf[32] = {};
  ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return {};
  std::string text(buf, static_cast<std::size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text.find_first_not_of("0123456789") == std::string::npos ? text : std::string();
}

// flock (not fcntl locks, which LMDB uses and which any close() in the process would
// drop): held until the fd is closed, released by the kernel if the process dies, so
// a kill -9 never leaves a stale lock behind.
void lock_dir(Env& env, const fs::path& dir) {
  const fs::path file = dir / "charla.lock";
  int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, kFileMode);
  if (fd < 0) throw StoreError("cannot create lock file " + file.string() + ": " + errno_text(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    std::string pid = err == EWOULDBLOCK ? lock_holder(fd) : std::string();
    ::close(fd);
    if (err != EWOULDBLOCK) throw StoreError("cannot lock " + file.string() + ": " + errno_text(err));
    throw DataDirInUse("data dir " + dir.string() + " is in use by another charla process" +
                       (pid.empty() ? std::string() : " (pid " + pid + ")") +
                       "; stop it or start this one with another --data directory");
  }
  env.lock_fd = fd;
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size()))
    throw StoreError("cannot write lock file " + file.string() + ": " + errno_text(errno));
}

void create_dir(const fs::path& dir) {
  if (dir.empty()) throw StoreError("store dir is empty");
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    throw StoreError("data dir " + dir.string() + " is not a directory");
  fs::create_directories(dir, ec);
  if (ec) throw StoreError("cannot create data dir " + dir.string() + ": " + ec.message());
}

// A store that grew in an earlier run would otherwise restart at options.map_size
// and pay a MDB_MAP_FULL retry per doubling on its first writes.
std::uint64_t initial_map_size(const Store::Options& options) {
  std::error_code ec;
  std::uint64_t data_size = fs::file_size(options.dir / "data.mdb", ec);
  if (ec) data_size = 0;
  return std::max(options.map_size, data_size);
}

void check_schema(MDB_txn* txn, MDB_dbi meta, const fs::path& dir) {
  MDB_val key = as_val(kSchemaKey);
  MDB_val value{};
  int rc = mdb_get(txn, meta, &key, &value);
  if (rc == MDB_NOTFOUND) {
    std::string version = std::to_string(kSchemaVersion);
    MDB_val fresh = as_val(version);
    check(mdb_put(txn, meta, &key, &fresh, 0), "cannot write schema version in " + dir.string());
    return;
  }
  check(rc, "cannot read schema version in " + dir.string());
  std::string_view text(static_cast<const char*>(value.mv_data), value.mv_size);
  std::uint32_t found = 0;
  auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), found);
  if (err != std::errc() || end != text.data() + text.size())
    throw StoreError("data dir " + dir.string() + " has an unreadable schema version '" +
                     std::string(text) + "'");
  if (found != kSchemaVersion)
    throw StoreError("data dir " + dir.string() + " has schema version " + std::to_string(found) +
                     ", this charla expects " + std::to_string(kSchemaVersion));
}

// With no conversations, the (empty) handoff index is complete: mark it so, in the
// opening transaction, and the runtime never needs to build it for this store.
void mark_empty_paused_index(MDB_txn* txn, const Env& env, const fs::path& dir) {
  const MDB_dbi meta = env.dbis[static_cast<int>(Db::meta)];
  MDB_val key = as_val(kPausedIndexMark);
  MDB_val value{};
  int rc = mdb_get(txn, meta, &key, &value);
  if (rc == MDB_SUCCESS) return;
  if (rc != MDB_NOTFOUND) check(rc, "cannot read the handoff index mark in " + dir.string());
  MDB_stat st{};
  check(mdb_stat(txn, env.dbis[static_cast<int>(Db::conv)], &st), "cannot count conversations in " + dir.string());
  if (st.ms_entries > 0) return;
  MDB_val done = as_val("1");
  check(mdb_put(txn, meta, &key, &done, 0), "cannot mark the handoff index in " + dir.string());
}

void open_databases(Env& env, const fs::path& dir) {
  MDB_txn* txn = nullptr;
  check(mdb_txn_begin(env.env, nullptr, 0, &txn), "cannot begin transaction in " + dir.string());
  TxnGuard guard(txn);
  for (int i = 0; i < kDbCount; ++i) {
    std::string name(db_name(static_cast<Db>(i)));
    check(mdb_dbi_open(txn, name.c_str(), MDB_CREATE, &env.dbis[i]),
          "cannot open database " + name + " in " + dir.string());
  }
  check_schema(txn, env.dbis[static_cast<int>(Db::meta)], dir);
  mark_empty_paused_index(txn, env, dir);
  check(mdb_txn_commit(guard.release()), "cannot commit in " + dir.string());
}

}  // namespace

std::string mdb_error(int rc) { return mdb_strerror(rc); }

void check(int rc, std::string_view what) {
  if (rc != MDB_SUCCESS) throw StoreError(std::string(what) + ": " + mdb_error(rc));
}

std::string format_bytes(std::uint64_t bytes) {
  static constexpr std::pair<std::uint64_t, const char*> kUnits[] = {
      {1ull << 40, "TiB"}, {1ull << 30, "GiB"}, {1ull << 20, "MiB"}, {1ull << 10, "KiB"}};
  for (auto [unit, name] : kUnits)
    if (bytes >= unit && bytes % unit == 0) return std::to_string(bytes / unit) + " " + name;
  return std::to_string(bytes) + " bytes";
}

void MapGate::enter_read() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return !exclusive_; });
  if (!broken_.empty()) throw StoreError(broken_);
  ++readers_;
}

void MapGate::leave_read() {
  std::lock_guard lock(mutex_);
  if (--readers_ == 0) changed_.notify_all();
}

bool MapGate::lock_exclusive(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  exclusive_ = true;
  if (changed_.wait_for(lock, timeout, [&] { return readers_ == 0; })) return true;
  exclusive_ = false;
  changed_.notify_all();
  return false;
}

void MapGate::unlock_exclusive() {
  std::lock_guard lock(mutex_);
  exclusive_ = false;
  changed_.notify_all();
}

void MapGate::mark_broken(std::string reason) {
  std::lock_guard lock(mutex_);
  broken_ = std::move(reason);
  exclusive_ = false;
  changed_.notify_all();
}

std::size_t MapGate::readers() const {
  std::lock_guard lock(mutex_);
  return readers_;
}

std::shared_ptr<Env> Env::open(const Store::Options& options) {
  const fs::path& dir = options.dir;
  create_dir(dir);
  auto env = std::make_shared<Env>();
  claim_dir(*env, dir);
  lock_dir(*env, dir);
  const std::string where = "cannot open LMDB environment in " + dir.string();
  check(mdb_env_create(&env->env), where);
  check(mdb_env_set_maxdbs(env->env, kMaxDbs), where);
  check(mdb_env_set_maxreaders(env->env, kMaxReaders), where);
  check(mdb_env_set_mapsize(env->env, initial_map_size(options)), where);
  unsigned flags = MDB_NOTLS | (options.durable ? 0u : unsigned{MDB_NOSYNC});
  check(mdb_env_open(env->env, dir.c_str(), flags, kFileMode), where);
  open_databases(*env, dir);
  return env;
}

Env::~Env() {
  if (env != nullptr) mdb_env_close(env);
  if (lock_fd >= 0) ::close(lock_fd);  // releases the flock
  if (!registered_dir.empty()) {
    std::lock_guard lock(g_open_dirs_mutex);
    g_open_dirs.erase(registered_dir);
  }
}

std::uint64_t Env::map_size() const {
  MDB_envinfo info{};
  mdb_env_info(env, &info);
  return info.me_mapsize;
}

}  // namespace charla::store::detail
