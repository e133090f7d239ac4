#pragma once
// A private directory for one flow test's store, removed with everything in it when
// the TempDir goes out of scope. mkdtemp makes the name unique, so several
// `charla test` runs (CI jobs, editors) never share a store.
#include <filesystem>

namespace charla::flowtest {

class TempDir {
 public:
  TempDir();  // throws std::runtime_error naming the directory it could not create
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace charla::flowtest
