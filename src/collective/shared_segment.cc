#include "collective/shared_segment.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <random>

#include "common/unique_fd.h"

namespace kiln::collective {

Result<std::unique_ptr<SharedSegment>> SharedSegment::Map(std::string name, int fd, size_t bytes) {
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) return ErrnoError(fmt::format("mmap /dev/shm{}", name), errno);
  return std::unique_ptr<SharedSegment>(
      new SharedSegment(std::move(name), static_cast<char*>(base), bytes));
}

Result<std::unique_ptr<SharedSegment>> SharedSegment::Create(std::string_view what, size_t bytes) {
  std::random_device random;
  const uint64_t nonce = (static_cast<uint64_t>(random()) << 32) | random();
  std::string name = fmt::format("/kiln-{}-{}-{:016x}", what, getpid(), nonce);
  UniqueFd fd(shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) return ErrnoError(fmt::format("shm_open /dev/shm{}", name), errno);
  const int reserved = posix_fallocate(fd.get(), 0, static_cast<off_t>(bytes));
  if (reserved != 0) {
    shm_unlink(name.c_str());
    return ErrnoError(fmt::format("reserving {} bytes in /dev/shm", bytes), reserved);
  }
  Result<std::unique_ptr<SharedSegment>> segment = Map(name, fd.get(), bytes);
  if (!segment.ok()) shm_unlink(name.c_str());
  return segment;
}

Result<std::unique_ptr<SharedSegment>> SharedSegment::Open(const std::string& name, size_t bytes) {
  UniqueFd fd(shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0));
  if (!fd) return ErrnoError(fmt::format("shm_open /dev/shm{}", name), errno);
  struct stat info {};
  if (fstat(fd.get(), &info) != 0) return ErrnoError("fstat", errno);
  if (static_cast<size_t>(info.st_size) != bytes) {
    return InternalError(
        fmt::format("/dev/shm{} has {} bytes, not the {} expected", name, info.st_size, bytes));
  }
  return Map(name, fd.get(), bytes);
}

SharedSegment::~SharedSegment() { munmap(base_, bytes_); }

void SharedSegment::Unlink(const std::string& name) { shm_unlink(name.c_str()); }

}  // namespace kiln::collective
