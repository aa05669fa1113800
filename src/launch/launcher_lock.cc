#include "launch/launcher_lock.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "common/files.h"
#include "common/strings.h"

namespace kiln::launch {

namespace {

// The whole file, for an open file description lock (F_OFD_*): held by the open file, so
// inherited across fork and exec and freed when its last descriptor closes, like flock,
// but it can be tested (F_OFD_GETLK) without being taken.
struct flock WholeFile(short type) {
  struct flock range {};
  range.l_type = type;
  range.l_whence = SEEK_SET;
  range.l_start = 0;
  range.l_len = 0;
  return range;
}

// Takes the write lock on `fd`'s open file; false when another open file holds it.
Result<bool> TryLock(int fd) {
  struct flock range = WholeFile(F_WRLCK);
  if (::fcntl(fd, F_OFD_SETLK, &range) == 0) return true;
  if (errno == EAGAIN || errno == EACCES) return false;
  return ErrnoError("fcntl(F_OFD_SETLK)", errno);
}

}  // namespace

Result<LauncherLock> LauncherLock::Acquire(const std::filesystem::path& path,
                                           std::chrono::milliseconds wait) {
  constexpr std::chrono::milliseconds kPoll(20);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) return ErrnoError(fmt::format("cannot create {}", path.string()), errno);
  const auto deadline = std::chrono::steady_clock::now() + wait;
  Result<bool> locked = TryLock(fd.get());
  while (locked.ok() && !*locked && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(kPoll);
    locked = TryLock(fd.get());
  }
  if (!locked.ok()) return locked.status().WithPrefix(fmt::format("cannot lock {}", path.string()));
  if (!*locked) {
    return FailedPreconditionError(
        fmt::format("another launcher owns this run (it holds {})", path.string()));
  }
  return LauncherLock(std::move(fd));
}

Result<LauncherLock> LauncherLock::Adopt(int fd, const std::filesystem::path& path) {
  UniqueFd owned(fd);
  struct stat by_fd {};
  struct stat by_path {};
  if (::fstat(owned.get(), &by_fd) != 0 || ::stat(path.c_str(), &by_path) != 0 ||
      by_fd.st_ino != by_path.st_ino || by_fd.st_dev != by_path.st_dev) {
    return FailedPreconditionError(
        fmt::format("descriptor {} is not the lock file {}", fd, path.string()));
  }
  // Re-locking a lock this open file already holds succeeds at once.
  const Result<bool> locked = TryLock(owned.get());
  if (!locked.ok() || !*locked) {
    return FailedPreconditionError(
        fmt::format("descriptor {} does not hold {}", fd, path.string()));
  }
  LauncherLock lock(std::move(owned));
  KILN_RETURN_IF_ERROR(lock.SetInheritable(false));
  return lock;
}

Status LauncherLock::SetInheritable(bool inheritable) {
  if (::fcntl(fd_.get(), F_SETFD, inheritable ? 0 : FD_CLOEXEC) != 0) {
    return ErrnoError("fcntl on the launcher lock", errno);
  }
  return Status::Ok();
}

Status LauncherLock::RecordOwner() {
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_.get(), 0) != 0 ||
      ::pwrite(fd_.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    return ErrnoError("cannot record the launcher's pid", errno);
  }
  return Status::Ok();
}

std::optional<int> LauncherLockOwner(const std::filesystem::path& path) {
  const Result<std::string> text = ReadFileToString(path);
  if (!text.ok()) return std::nullopt;
  const std::optional<std::int64_t> pid = ParseInt64(TrimWhitespace(*text));
  if (!pid || *pid <= 0) return std::nullopt;
  return static_cast<int>(*pid);
}

Result<bool> IsLauncherAlive(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return false;
    return ErrnoError(fmt::format("cannot open {}", path.string()), errno);
  }
  // Asks who would block a write lock, without taking any: a probe never stands in the way
  // of a submit or launcher taking the lock at the same moment.
  struct flock range = WholeFile(F_WRLCK);
  if (::fcntl(fd.get(), F_OFD_GETLK, &range) != 0) {
    return ErrnoError(fmt::format("cannot probe {}", path.string()), errno);
  }
  return range.l_type != F_UNLCK;
}

}  // namespace kiln::launch
