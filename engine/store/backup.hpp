#pragma once
// A consistent copy of a charla store, taken while a server may be writing to it.
//
// The copy is LMDB's own (mdb_env_copy2 with MDB_CP_COMPACT): it reads one snapshot in
// one read transaction, so it holds every turn committed before it began and nothing
// of a turn committed after. It opens the environment read-only as a second LMDB
// process, which LMDB supports (readers register in lock.mdb); it never takes the
// data dir's charla.lock, so it works beside a running `charla serve`.
#include <cstdint>
#include <filesystem>
#include <string>

namespace charla::store {

struct BackupResult {
  std::filesystem::path file;        // <dest>/data.mdb
  std::uint64_t bytes = 0;
  std::uint64_t conversations = 0;   // entries of the conv database in the copy
  std::string schema_version;        // meta/schema_version of the copy
};

// Copies the store in `data_dir` into `dest_dir`/data.mdb (dest_dir is created; an
// existing data.mdb there is never overwritten), fsyncs it, then opens the copy to
// check it. Throws StoreError saying what is wrong and where.
BackupResult backup(const std::filesystem::path& data_dir, const std::filesystem::path& dest_dir);

}  // namespace charla::store
