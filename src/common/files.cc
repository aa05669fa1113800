#include "common/files.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <system_error>

#include "common/random.h"
#include "common/unique_fd.h"

namespace kiln {
namespace fs = std::filesystem;

Status WriteAll(int fd, std::string_view data, const fs::path& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(fmt::format("write {}", path.string()), errno);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return Status::Ok();
}

Result<std::string> ReadFileToString(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return NotFoundError(fmt::format("{} does not exist", path.string()));
    return ErrnoError(fmt::format("open {}", path.string()), errno);
  }
  std::string contents;
  char buffer[64 * 1024];
  while (true) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(fmt::format("read {}", path.string()), errno);
    }
    if (n == 0) break;
    contents.append(buffer, static_cast<std::size_t>(n));
  }
  return contents;
}

Status WriteFileAtomically(const fs::path& path, std::string_view contents, Durability durability) {
  fs::path temp = path;
  temp += ".tmp." + RandomHex(12);  // unique per writer, threads included
  {
    UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) return ErrnoError(fmt::format("create {}", temp.string()), errno);
    KILN_RETURN_IF_ERROR(WriteAll(fd.get(), contents, temp));
    if (durability == Durability::kSynced && ::fsync(fd.get()) != 0) {
      return ErrnoError(fmt::format("fsync {}", temp.string()), errno);
    }
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(temp.c_str());
    return ErrnoError(fmt::format("rename {} to {}", temp.string(), path.string()), saved);
  }
  return Status::Ok();
}

Status CreateDirectories(const fs::path& path) {
  std::error_code error;
  fs::create_directories(path, error);
  if (error) {
    return InternalError(
        fmt::format("cannot create directory {}: {}", path.string(), error.message()));
  }
  return Status::Ok();
}

Status CopyFileContents(const fs::path& from, const fs::path& to, unsigned mode) {
  UniqueFd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) return ErrnoError(fmt::format("open {}", from.string()), errno);
  UniqueFd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777));
  if (!out) {
    if (errno == EEXIST) return AlreadyExistsError(fmt::format("{} exists", to.string()));
    return ErrnoError(fmt::format("create {}", to.string()), errno);
  }
  // copy_file_range keeps the bytes in the kernel; fall back to read/write where the
  // filesystem pair does not support it.
  bool kernel_copy = true;
  while (kernel_copy) {
    const ssize_t n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr, 1 << 30, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) {
        kernel_copy = false;
        break;
      }
      return ErrnoError(fmt::format("copy {} to {}", from.string(), to.string()), errno);
    }
  }
  if (!kernel_copy) {
    char buffer[256 * 1024];
    while (true) {
      const ssize_t n = ::read(in.get(), buffer, sizeof(buffer));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoError(fmt::format("read {}", from.string()), errno);
      }
      if (n == 0) break;
      KILN_RETURN_IF_ERROR(
          WriteAll(out.get(), std::string_view(buffer, static_cast<std::size_t>(n)), to));
    }
  }
  // The umask may have narrowed the mode given to open().
  if (::fchmod(out.get(), mode & 07777) != 0) {
    return ErrnoError(fmt::format("chmod {}", to.string()), errno);
  }
  return Status::Ok();
}

Status CopyTree(const fs::path& from, const fs::path& to) {
  std::error_code error;
  const fs::file_status status = fs::symlink_status(from, error);
  if (error) return NotFoundError(fmt::format("{}: {}", from.string(), error.message()));
  if (fs::is_symlink(status)) {
    fs::copy_symlink(from, to, error);
  } else if (fs::is_directory(status)) {
    fs::create_directories(to, error);
    if (!error) {
      for (const fs::directory_entry& entry : fs::directory_iterator(from, error)) {
        KILN_RETURN_IF_ERROR(CopyTree(entry.path(), to / entry.path().filename()));
      }
    }
  } else if (fs::is_regular_file(status)) {
    return CopyFileContents(from, to, static_cast<unsigned>(status.permissions()));
  } else {
    return Status::Ok();  // Sockets, FIFOs and devices are not data.
  }
  if (error) {
    return InternalError(
        fmt::format("copy {} to {}: {}", from.string(), to.string(), error.message()));
  }
  return Status::Ok();
}

bool OlderThan(const fs::path& path, std::chrono::seconds age) {
  std::error_code error;
  const fs::file_time_type changed = fs::last_write_time(path, error);
  return !error && fs::file_time_type::clock::now() - changed >= age;
}

Status RemoveTree(const fs::path& path) {
  std::error_code error;
  fs::remove_all(path, error);
  if (error) {
    return InternalError(fmt::format("cannot remove {}: {}", path.string(), error.message()));
  }
  return Status::Ok();
}

bool IsWithin(const fs::path& path, const fs::path& root) {
  std::error_code error;
  const fs::path real_path = fs::canonical(path, error);
  if (error) return false;
  const fs::path real_root = fs::canonical(root, error);
  if (error) return false;
  auto [root_end, path_it] =
      std::mismatch(real_root.begin(), real_root.end(), real_path.begin(), real_path.end());
  return root_end == real_root.end();
}

fs::path AbsolutePath(const fs::path& path) {
  const std::string text = path.string();
  if (text == "~" || text.starts_with("~/")) {
    const char* home = std::getenv("HOME");
    fs::path expanded = home != nullptr ? fs::path(home) : fs::path("/");
    if (text.size() > 2) expanded /= text.substr(2);
    return expanded.lexically_normal();
  }
  fs::path normal = fs::absolute(path).lexically_normal();
  // "/a/b/" (from "/a/b/.") names the same folder as "/a/b"; keep one spelling.
  if (!normal.has_filename() && normal.has_parent_path() && normal != normal.root_path()) {
    normal = normal.parent_path();
  }
  return normal;
}

}  // namespace kiln
