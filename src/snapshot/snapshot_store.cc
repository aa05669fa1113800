#include "snapshot/snapshot_store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "common/files.h"
#include "common/random.h"
#include "common/sha256.h"
#include "common/time.h"
#include "common/unique_fd.h"
#include "snapshot/entry_path.h"
#include "snapshot/manifest_check.h"
#include "snapshot/materialize.h"
#include "snapshot/stat_cache.h"

namespace kiln::snapshot {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kCopyBuffer = 1 << 20;
constexpr unsigned kObjectMode = 0444;
constexpr std::size_t kCacheKeyDigits = 24;

bool Exists(const fs::path& path) { return ::access(path.c_str(), F_OK) == 0; }

// Exists(), and when it does, its mtime made now: `kiln gc` leaves young objects alone, so
// one a new snapshot counts on stays until that snapshot's manifest names it.
bool ExistsTouched(const fs::path& path) {
  return ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0) == 0 || Exists(path);
}

// Renames a written temporary file to its object's name, making the object's prefix folder;
// once more if `kiln gc` removed that folder, emptied, in between. The temporary file is
// removed on failure.
Status RenameIntoPlace(const fs::path& temp, const fs::path& object) {
  for (int attempt = 0;; ++attempt) {
    Status folder = CreateDirectories(object.parent_path());
    if (!folder.ok()) {
      ::unlink(temp.c_str());
      return folder;
    }
    if (::rename(temp.c_str(), object.c_str()) == 0) return Status::Ok();
    if (errno != ENOENT || attempt > 0) {
      const int saved = errno;
      ::unlink(temp.c_str());
      return ErrnoError(fmt::format("cannot store {}", object.string()), saved);
    }
  }
}

}  // namespace

fs::path SnapshotStore::ObjectPath(std::string_view sha256) const {
  return root_ / "objects" / std::string(sha256.substr(0, 2)) / std::string(sha256.substr(2));
}

fs::path SnapshotStore::ManifestPath(std::string_view id) const {
  return root_ / "manifests" / (std::string(id) + ".json");
}

Result<std::string> SnapshotStore::StoreObject(const SourceScan& scan, const SourceFile& file,
                                               std::uint64_t& bytes_stored) {
  const fs::path source = scan.root / file.path;
  UniqueFd in(::open(source.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!in) {
    if (errno == ENOENT) {
      return UnavailableError(
          fmt::format("{} disappeared while it was being snapshotted; "
                      "submit again",
                      source.string()));
    }
    return ErrnoError(fmt::format("cannot read {}", source.string()), errno);
  }
  const fs::path temp = root_ / "tmp" / RandomHex(16);
  UniqueFd out(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, kObjectMode));
  if (!out) return ErrnoError(fmt::format("cannot create {}", temp.string()), errno);

  Sha256 hash;
  std::uint64_t total = 0;
  std::string buffer(kCopyBuffer, '\0');
  while (true) {
    const ssize_t n = ::read(in.get(), buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      ::unlink(temp.c_str());
      return ErrnoError(fmt::format("cannot read {}", source.string()), saved);
    }
    if (n == 0) break;
    hash.Update(buffer.data(), static_cast<std::size_t>(n));
    if (Status written =
            WriteAll(out.get(), std::string_view(buffer.data(), static_cast<std::size_t>(n)), temp);
        !written.ok()) {
      ::unlink(temp.c_str());
      return written;
    }
    total += static_cast<std::uint64_t>(n);
  }
  out.reset();
  if (total != file.size) {
    ::unlink(temp.c_str());
    return UnavailableError(
        fmt::format("{} changed while it was being snapshotted; submit again", source.string()));
  }
  const std::string sha256 = hash.FinishHex();
  const fs::path object = ObjectPath(sha256);
  if (ExistsTouched(object)) {
    ::unlink(temp.c_str());
    return sha256;
  }
  KILN_RETURN_IF_ERROR(RenameIntoPlace(temp, object));
  bytes_stored += total;
  return sha256;
}

Status SnapshotStore::Prepare() const {
  for (const char* folder : {"tmp", "manifests", "cache"}) {
    const fs::path path = root_ / folder;
    std::error_code error;
    fs::create_directories(path, error);
    // Folders that exist already may still refuse writes (a read-only KILN_HOME).
    if (!error && ::access(path.c_str(), W_OK) != 0) {
      error = std::error_code(errno, std::generic_category());
    }
    if (!error) continue;
    const std::string message =
        fmt::format("the snapshot store {} cannot be written: {}", root_.string(), error.message());
    if (error.value() == EACCES || error.value() == EPERM || error.value() == EROFS) {
      return FailedPreconditionError(fmt::format(
          "{}; make it writable for this user, or set KILN_HOME to a folder this user may write",
          message));
    }
    return InternalError(message);
  }
  return Status::Ok();
}

Result<SnapshotInfo> SnapshotStore::Create(const SourceScan& scan) {
  const std::int64_t started_ns = SystemClock().Now() * 1000;
  KILN_RETURN_IF_ERROR(Prepare());
  const fs::path cache_file =
      root_ / "cache" / (Sha256::HexOf(scan.root.string()).substr(0, kCacheKeyDigits) + ".tsv");
  StatCache cache = StatCache::Load(cache_file);

  SnapshotInfo info;
  Manifest manifest;
  for (const SourceFile& file : scan.files) {
    ManifestEntry entry;
    entry.path = file.path;
    entry.kind = file.kind;
    if (file.kind == EntryKind::kSymlink) {
      entry.link_target = file.link_target;
      manifest.entries.push_back(std::move(entry));
      continue;
    }
    entry.executable = file.executable;
    entry.size = file.size;
    std::optional<std::string> sha256 = cache.Lookup(file);
    if (!sha256 || !ExistsTouched(ObjectPath(*sha256))) {
      KILN_ASSIGN_OR_RETURN(sha256, StoreObject(scan, file, info.bytes_stored));
      ++info.files_hashed;
    }
    cache.Put(file, *sha256, started_ns);
    entry.sha256 = std::move(*sha256);
    info.total_bytes += entry.size;
    manifest.entries.push_back(std::move(entry));
  }

  const std::string serialized = SerializeManifest(manifest);
  info.id = ManifestId(serialized);
  info.file_count = manifest.file_count();
  const fs::path manifest_path = ManifestPath(info.id);
  if (!ExistsTouched(manifest_path)) {
    if (info.bytes_stored > 0) {
      // New objects reach the disk before the manifest that names them.
      UniqueFd objects(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!objects || ::syncfs(objects.get()) != 0) {
        return ErrnoError(fmt::format("cannot flush {}", root_.string()), errno);
      }
    }
    KILN_RETURN_IF_ERROR(WriteFileAtomically(manifest_path, serialized));
  }
  cache.Save(cache_file).IgnoreError();  // Only an optimisation.
  return info;
}

std::vector<std::string> SnapshotStore::MissingObjects(const Manifest& manifest) const {
  std::set<std::string> seen;
  std::vector<std::string> missing;
  for (const ManifestEntry& entry : manifest.entries) {
    if (entry.kind != EntryKind::kFile || !seen.insert(entry.sha256).second) continue;
    if (!ExistsTouched(ObjectPath(entry.sha256))) missing.push_back(entry.sha256);
  }
  return missing;
}

Status SnapshotStore::PutObject(std::string_view sha256, std::string_view bytes) {
  if (!IsSha256Hex(sha256)) {
    return InvalidArgumentError(
        fmt::format("object name '{}' is not 64 lowercase hex digits", EscapeForMessage(sha256)));
  }
  const std::string actual = Sha256::HexOf(bytes);
  if (actual != sha256) {
    return InvalidArgumentError(fmt::format(
        "object {} was sent with other contents (their SHA-256 is {})", sha256, actual));
  }
  const fs::path object = ObjectPath(sha256);
  if (ExistsTouched(object)) return Status::Ok();
  KILN_RETURN_IF_ERROR(CreateDirectories(root_ / "tmp"));
  const fs::path temp = root_ / "tmp" / RandomHex(16);
  {
    UniqueFd out(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, kObjectMode));
    if (!out) return ErrnoError(fmt::format("cannot create {}", temp.string()), errno);
    Status written = WriteAll(out.get(), bytes, temp);
    if (written.ok() && ::fsync(out.get()) != 0) {
      written = ErrnoError(fmt::format("cannot flush {}", temp.string()), errno);
    }
    if (!written.ok()) {
      ::unlink(temp.c_str());
      return written;
    }
  }
  return RenameIntoPlace(temp, object);
}

Result<std::string> SnapshotStore::AddManifest(std::string_view serialized,
                                               const SnapshotLimits& limits) {
  Result<Manifest> manifest = ParseManifest(serialized);
  if (!manifest.ok()) return InvalidArgumentError(manifest.status().message());
  KILN_RETURN_IF_ERROR(CheckManifestLimits(*manifest, limits));
  KILN_RETURN_IF_ERROR(CheckManifest(*manifest));
  for (std::size_t i = 0; i < manifest->entries.size(); ++i) {
    const ManifestEntry& entry = manifest->entries[i];
    if (entry.kind != EntryKind::kFile) continue;
    struct stat info {};
    if (::stat(ObjectPath(entry.sha256).c_str(), &info) != 0) {
      return InvalidArgumentError(fmt::format(
          "snapshot manifest entries[{}] '{}': its contents ({}) are not in the store; send "
          "them first",
          i, EscapeForMessage(entry.path), entry.sha256));
    }
    if (static_cast<std::uint64_t>(info.st_size) != entry.size) {
      return InvalidArgumentError(fmt::format(
          "snapshot manifest entries[{}] '{}': its size is {}, but its contents ({}) are {} "
          "bytes",
          i, EscapeForMessage(entry.path), entry.size, entry.sha256, info.st_size));
    }
  }
  // Stored in canonical form, so the id is the one the sender computed for the same tree.
  const std::string canonical = SerializeManifest(*manifest);
  const std::string id = ManifestId(canonical);
  KILN_RETURN_IF_ERROR(CreateDirectories(root_ / "manifests"));
  if (!ExistsTouched(ManifestPath(id))) {
    KILN_RETURN_IF_ERROR(WriteFileAtomically(ManifestPath(id), canonical));
  }
  return id;
}

Result<Manifest> SnapshotStore::ReadManifest(std::string_view id) const {
  if (!IsSha256Hex(id)) {
    return InvalidArgumentError(
        fmt::format("snapshot id '{}' is not 64 lowercase hex digits", EscapeForMessage(id)));
  }
  const Result<std::string> text = ReadFileToString(ManifestPath(id));
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) {
      return NotFoundError(fmt::format("snapshot {} is not in the store {}", id, root_.string()));
    }
    return text.status();
  }
  if (ManifestId(*text) != id) {
    return DataLossError(fmt::format("snapshot manifest {} is damaged (its hash differs)",
                                     ManifestPath(id).string()));
  }
  return ParseManifest(*text);
}

Status SnapshotStore::Materialize(std::string_view id, const fs::path& destination) const {
  KILN_ASSIGN_OR_RETURN(const Manifest manifest, ReadManifest(id));
  // A manifest in the store passed these on the way in; checked again, as the files it
  // makes come from it alone.
  KILN_RETURN_IF_ERROR(CheckManifest(manifest));
  if (destination.has_parent_path()) {
    KILN_RETURN_IF_ERROR(CreateDirectories(destination.parent_path()));
  }
  const bool made = ::mkdir(destination.c_str(), 0755) == 0;
  if (!made && errno != EEXIST) {
    return ErrnoError(fmt::format("cannot make folder {}", destination.string()), errno);
  }
  UniqueFd folder(::open(destination.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!folder) {
    if (errno == ELOOP || errno == ENOTDIR) {
      return FailedPreconditionError(fmt::format(
          "{} is a symbolic link or a file; choose a new or empty folder", destination.string()));
    }
    return ErrnoError(fmt::format("cannot open folder {}", destination.string()), errno);
  }
  std::error_code error;
  if (!made && !fs::is_empty(destination, error)) {
    return FailedPreconditionError(
        fmt::format("{} is not empty; choose a new or empty folder", destination.string()));
  }
  Status status = MaterializeAt(*this, manifest, folder.get(), destination);
  if (!status.ok()) {
    if (made) {
      RemoveTree(destination).IgnoreError();
    } else {
      // Links inside are removed, never followed.
      for (const fs::directory_entry& entry : fs::directory_iterator(destination, error)) {
        fs::remove_all(entry.path(), error);
      }
    }
  }
  return status;
}

}  // namespace kiln::snapshot
