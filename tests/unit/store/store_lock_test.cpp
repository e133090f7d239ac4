// The data dir's lock file: a second process on the same data dir is refused with a
// message naming the dir and the pid that holds it; the lock goes with the store.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "store/store.hpp"
#include "store_test_support.hpp"

using namespace charla::store;
using charla::store::test::data_dir;
using charla::store::test::test_options;
using charla::test::TempDir;

namespace {

// Tries flock on <dir>/charla.lock in a child process (flock locks are per open file,
// so a child's attempt is what a second charla would see). True if it got the lock.
bool another_process_can_lock(const std::filesystem::path& dir) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = ::open((dir / "charla.lock").c_str(), O_RDWR);
    _exit(fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) == 0 ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

TEST_CASE("store: the data dir is locked while open, and released on close", "[store][lock]") {
  TempDir tmp;
  auto store = Store::open(test_options(data_dir(tmp)));
  CHECK_FALSE(another_process_can_lock(data_dir(tmp)));
  store->close();
  CHECK(another_process_can_lock(data_dir(tmp)));
  auto reopened = Store::open(test_options(data_dir(tmp)));  // and this process can reopen it
  CHECK_FALSE(another_process_can_lock(data_dir(tmp)));
}

TEST_CASE("store: a data dir locked by another process is refused, naming dir and pid", "[store][lock]") {
  TempDir tmp;
  const auto dir = data_dir(tmp);
  std::filesystem::create_directories(dir);
  int fd = ::open((dir / "charla.lock").c_str(), O_RDWR | O_CREAT, 0600);
  REQUIRE(fd >= 0);
  REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);  // as another charla would hold it
  REQUIRE(::write(fd, "4242\n", 5) == 5);

  std::string error;
  try {
    Store::open(test_options(dir));
  } catch (const DataDirInUse& e) {
    error = e.what();
  }
  CHECK_THAT(error, Catch::Contains("data dir " + dir.string() + " is in use by another charla process (pid 4242)"));

  ::close(fd);  // the holder exits: the dir opens, and the file now names this process
  auto store = Store::open(test_options(dir));
  std::ifstream in(dir / "charla.lock");
  std::string pid;
  in >> pid;
  CHECK(pid == std::to_string(getpid()));
}
