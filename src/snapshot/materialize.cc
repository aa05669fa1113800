#include "snapshot/materialize.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common/files.h"
#include "common/strings.h"
#include "common/unique_fd.h"

namespace kiln::snapshot {
namespace fs = std::filesystem;

namespace {

constexpr unsigned kFolderMode = 0755;
constexpr unsigned kExecutableMode = 0755;
constexpr unsigned kFileMode = 0644;
constexpr std::size_t kCopyBuffer = 256 * 1024;

// The folders from the destination down to the current entry's parent, each held open.
// Entries come sorted, so consecutive ones share most of their folders.
class OpenFolders {
 public:
  OpenFolders(int destination_fd, const fs::path& destination)
      : destination_fd_(destination_fd), destination_(destination) {}

  // The descriptor of folder `parts[0..count)`, made where missing; entered only where it is
  // a real folder.
  Result<int> Enter(const std::vector<std::string>& parts, std::size_t count) {
    std::size_t keep = 0;
    while (keep < open_.size() && keep < count && open_[keep].name == parts[keep]) ++keep;
    open_.erase(open_.begin() + static_cast<std::ptrdiff_t>(keep), open_.end());
    for (std::size_t i = keep; i < count; ++i) {
      const int parent = Current();
      const char* name = parts[i].c_str();
      if (::mkdirat(parent, name, kFolderMode) != 0 && errno != EEXIST) {
        return ErrnoError(fmt::format("cannot make folder {}", Where(parts, i + 1)), errno);
      }
      UniqueFd folder(::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!folder) {
        if (errno == ELOOP || errno == ENOTDIR) {
          return FailedPreconditionError(fmt::format(
              "{} is a symbolic link or a file, not a folder; a snapshot is never written "
              "through a link",
              Where(parts, i + 1)));
        }
        return ErrnoError(fmt::format("cannot open folder {}", Where(parts, i + 1)), errno);
      }
      open_.push_back({parts[i], std::move(folder)});
    }
    return Current();
  }

  // destination/parts[0]/.../parts[count - 1], for messages.
  std::string Where(const std::vector<std::string>& parts, std::size_t count) const {
    fs::path path = destination_;
    for (std::size_t i = 0; i < count; ++i) path /= parts[i];
    return path.string();
  }

 private:
  struct Folder {
    std::string name;
    UniqueFd fd;
  };
  int Current() const { return open_.empty() ? destination_fd_ : open_.back().fd.get(); }

  int destination_fd_;
  const fs::path& destination_;
  std::vector<Folder> open_;
};

// Copies `from_fd` whole to the empty `to_fd`: as a reflink where the filesystem has them
// (btrfs, XFS made with reflink=1, bcachefs), so the run's file shares the object's blocks
// until either is written, and a write gets its own copy of what it changes; else in the
// kernel; else through a buffer. (CopyFileContents in common/files.h copies by path, which
// would follow a link.)
Status CopyBytes(int from_fd, int to_fd, const fs::path& from, const std::string& to) {
  if (::ioctl(to_fd, FICLONE, from_fd) == 0) return Status::Ok();
  constexpr std::size_t kChunk = std::size_t{1} << 30;
  while (true) {
    const ssize_t n = ::copy_file_range(from_fd, nullptr, to_fd, nullptr, kChunk, 0);
    if (n == 0) return Status::Ok();
    if (n > 0) continue;
    if (errno == EINTR) continue;
    if (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) break;
    return ErrnoError(fmt::format("copy {} to {}", from.string(), to), errno);
  }
  std::string buffer(kCopyBuffer, '\0');
  while (true) {
    const ssize_t n = ::read(from_fd, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(fmt::format("read {}", from.string()), errno);
    }
    if (n == 0) return Status::Ok();
    KILN_RETURN_IF_ERROR(
        WriteAll(to_fd, std::string_view(buffer.data(), static_cast<std::size_t>(n)), to));
  }
}

Status WriteFile(const SnapshotStore& store, const ManifestEntry& entry, int parent,
                 const std::string& name, const std::string& where) {
  const fs::path object = store.ObjectPath(entry.sha256);
  UniqueFd in(::open(object.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  struct stat info {};
  if (!in || ::fstat(in.get(), &info) != 0 || !S_ISREG(info.st_mode) ||
      static_cast<std::uint64_t>(info.st_size) != entry.size) {
    return DataLossError(fmt::format("snapshot object for {} ({}) is missing or damaged",
                                     entry.path, object.string()));
  }
  const unsigned mode = entry.executable ? kExecutableMode : kFileMode;
  UniqueFd out(
      ::openat(parent, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!out) {
    if (errno == EEXIST) return AlreadyExistsError(fmt::format("{} exists already", where));
    return ErrnoError(fmt::format("cannot create {}", where), errno);
  }
  KILN_RETURN_IF_ERROR(CopyBytes(in.get(), out.get(), object, where));
  // The umask may have narrowed the mode given to openat().
  if (::fchmod(out.get(), mode) != 0) return ErrnoError(fmt::format("chmod {}", where), errno);
  return Status::Ok();
}

}  // namespace

Status MaterializeAt(const SnapshotStore& store, const Manifest& manifest, int destination_fd,
                     const fs::path& destination) {
  OpenFolders folders(destination_fd, destination);
  for (const ManifestEntry& entry : manifest.entries) {
    const std::vector<std::string> parts = SplitString(entry.path, '/');
    KILN_ASSIGN_OR_RETURN(const int parent, folders.Enter(parts, parts.size() - 1));
    const std::string& name = parts.back();
    const std::string where = folders.Where(parts, parts.size());
    if (entry.kind == EntryKind::kSymlink) {
      if (::symlinkat(entry.link_target.c_str(), parent, name.c_str()) != 0) {
        if (errno == EEXIST) return AlreadyExistsError(fmt::format("{} exists already", where));
        return ErrnoError(fmt::format("cannot create link {}", where), errno);
      }
      continue;
    }
    KILN_RETURN_IF_ERROR(WriteFile(store, entry, parent, name, where));
  }
  return Status::Ok();
}

}  // namespace kiln::snapshot
