// Key codecs and the ReadTxn / WriteTxn operations.
#include <utility>

#include "store/lmdb_env.hpp"

namespace charla::store {
namespace {

using detail::as_val;
using detail::as_view;
using detail::check;

constexpr std::string_view kDbNames[kDbCount] = {
    "inbox", "seen", "conv", "history", "outbox", "outbox_by_wamid", "timers", "meta", "quarantine", "events", "paused"};

MDB_dbi dbi_of(const unsigned* dbis, Db db) { return dbis[static_cast<int>(db)]; }

std::string context(std::string_view op, Db db) {
  return std::string(op) + " in " + std::string(db_name(db));
}

std::optional<std::string> get_value(MDB_txn* txn, const unsigned* dbis, Db db,
                                     std::string_view key) {
  MDB_val k = as_val(key);
  MDB_val v{};
  int rc = mdb_get(txn, dbi_of(dbis, db), &k, &v);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  check(rc, context("get", db));
  return std::string(as_view(v));
}

// Read transactions need their cursors closed explicitly; write transactions need
// them closed before commit. Either way: close on scope exit.
class Cursor {
 public:
  Cursor(MDB_txn* txn, MDB_dbi dbi, Db db) {
    check(mdb_cursor_open(txn, dbi, &cursor_), context("cursor open", db));
  }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  ~Cursor() { mdb_cursor_close(cursor_); }
  int get(MDB_val& key, MDB_val& value, MDB_cursor_op op) {
    return mdb_cursor_get(cursor_, &key, &value, op);
  }

 private:
  MDB_cursor* cursor_ = nullptr;
};

// Visits keys >= from (all keys if from is empty; LMDB rejects empty keys) while they
// start with prefix. The views point into the map: valid until the visitor returns.
void scan_range(MDB_txn* txn, const unsigned* dbis, Db db, std::string_view from,
                std::string_view prefix, const Visitor& visit) {
  Cursor cursor(txn, dbi_of(dbis, db), db);
  MDB_val key = as_val(from);
  MDB_val value{};
  int rc = cursor.get(key, value, from.empty() ? MDB_FIRST : MDB_SET_RANGE);
  for (; rc == MDB_SUCCESS; rc = cursor.get(key, value, MDB_NEXT)) {
    std::string_view k = as_view(key);
    if (!k.starts_with(prefix) || !visit(k, as_view(value))) return;
  }
  if (rc != MDB_NOTFOUND) check(rc, context("scan", db));
}

}  // namespace

std::string_view db_name(Db db) { return kDbNames[static_cast<int>(db)]; }

std::string be64(std::uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<char>(v & 0xff);
  return out;
}

std::uint64_t from_be64(std::string_view bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[i]);
  return v;
}

// ReadTxn

ReadTxn::ReadTxn(MDB_txn* txn, const unsigned* dbis, std::shared_ptr<void> map_guard)
    : txn_(txn), dbis_(dbis), map_guard_(std::move(map_guard)) {}

ReadTxn::ReadTxn(ReadTxn&& other) noexcept
    : txn_(std::exchange(other.txn_, nullptr)),
      dbis_(other.dbis_),
      map_guard_(std::move(other.map_guard_)) {}

// The txn is aborted before map_guard_ (a member) is released, so the map is never
// resized or unmapped under a live read transaction.
ReadTxn::~ReadTxn() {
  if (txn_ != nullptr) mdb_txn_abort(txn_);
}

std::optional<std::string> ReadTxn::get(Db db, std::string_view key) const {
  return get_value(txn_, dbis_, db, key);
}

void ReadTxn::scan(Db db, std::string_view from, const Visitor& visit) const {
  scan_range(txn_, dbis_, db, from, {}, visit);
}

void ReadTxn::scan_prefix(Db db, std::string_view prefix, const Visitor& visit) const {
  scan_range(txn_, dbis_, db, prefix, prefix, visit);
}

std::uint64_t ReadTxn::count(Db db) const {
  MDB_stat st{};
  check(mdb_stat(txn_, dbi_of(dbis_, db), &st), "mdb_stat " + std::string(db_name(db)));
  return st.ms_entries;
}

// WriteTxn

void WriteTxn::check_write(int rc, std::string_view what, Db db) {
  if (rc == MDB_MAP_FULL) map_full_ = true;
  check(rc, context(what, db));
}

std::optional<std::string> WriteTxn::get(Db db, std::string_view key) const {
  return get_value(txn_, dbis_, db, key);
}

void WriteTxn::put(Db db, std::string_view key, std::string_view value) {
  MDB_val k = as_val(key);
  MDB_val v = as_val(value);
  check_write(mdb_put(txn_, dbi_of(dbis_, db), &k, &v, 0), "put", db);
}

bool WriteTxn::del(Db db, std::string_view key) {
  MDB_val k = as_val(key);
  int rc = mdb_del(txn_, dbi_of(dbis_, db), &k, nullptr);
  if (rc == MDB_NOTFOUND) return false;
  check_write(rc, "del", db);
  return true;
}

void WriteTxn::scan(Db db, std::string_view from, const Visitor& visit) const {
  scan_range(txn_, dbis_, db, from, {}, visit);
}

void WriteTxn::scan_prefix(Db db, std::string_view prefix, const Visitor& visit) const {
  scan_range(txn_, dbis_, db, prefix, prefix, visit);
}

std::uint64_t WriteTxn::next_seq(std::string_view counter) {
  const std::string key = "seq/" + std::string(counter);
  std::optional<std::string> current = get(Db::meta, key);
  if (current && current->size() != 8)
    throw StoreError("meta key " + key + " is not a be64 counter");
  std::uint64_t next = (current ? from_be64(*current) : 0) + 1;
  put(Db::meta, key, be64(next));
  return next;
}

}  // namespace charla::store
