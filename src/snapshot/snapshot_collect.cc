// SnapshotStore::Collect: what `kiln gc` removes from the snapshot store.

#include <fmt/format.h>

#include "common/files.h"
#include "snapshot/manifest.h"
#include "snapshot/snapshot_store.h"

namespace kiln::snapshot {
namespace fs = std::filesystem;

namespace {

// Removes `path` unless `dry_run`; adds its size to `bytes` either way.
Status Drop(const fs::path& path, bool dry_run, std::uint64_t& bytes) {
  std::error_code error;
  const std::uintmax_t size = fs::file_size(path, error);
  if (!error) bytes += size;
  if (dry_run) return Status::Ok();
  if (!fs::remove(path, error) && error) {
    return InternalError(fmt::format("cannot remove {}: {}", path.string(), error.message()));
  }
  return Status::Ok();
}

}  // namespace

Result<SnapshotStore::Collected> SnapshotStore::Collect(const std::set<std::string>& keep,
                                                        std::chrono::seconds min_age,
                                                        bool dry_run) const {
  Collected collected;
  std::error_code error;
  // 1. Manifests: those no run or model names, once old enough. The objects of every
  // manifest that stays are live.
  std::set<std::string> live;
  const fs::path manifests = root_ / "manifests";
  if (fs::exists(manifests, error)) {
    for (const fs::directory_entry& entry : fs::directory_iterator(manifests, error)) {
      const fs::path path = entry.path();
      if (path.extension() != ".json") continue;
      const std::string id = path.stem().string();
      if (!keep.contains(id) && OlderThan(path, min_age)) {
        KILN_RETURN_IF_ERROR(Drop(path, dry_run, collected.bytes));
        ++collected.manifests;
        continue;
      }
      // A manifest that cannot be read now may name objects a run needs: nothing more is
      // collected until it can be read (or a person removes it).
      const Result<Manifest> manifest = ReadManifest(id);
      if (!manifest.ok()) {
        return manifest.status().WithPrefix(
            fmt::format("no object was collected, as snapshot {} cannot be read", id));
      }
      for (const ManifestEntry& file : manifest->entries) {
        if (file.kind == EntryKind::kFile) live.insert(file.sha256);
      }
    }
  }
  if (error) {
    return InternalError(fmt::format("cannot list {}: {}", manifests.string(), error.message()));
  }
  // 2. Objects that no remaining manifest names, once old enough.
  const fs::path objects = root_ / "objects";
  if (fs::exists(objects, error)) {
    for (const fs::directory_entry& prefix : fs::directory_iterator(objects, error)) {
      if (!prefix.is_directory(error)) continue;
      for (const fs::directory_entry& object : fs::directory_iterator(prefix.path(), error)) {
        const std::string sha256 =
            prefix.path().filename().string() + object.path().filename().string();
        if (live.contains(sha256) || !OlderThan(object.path(), min_age)) continue;
        KILN_RETURN_IF_ERROR(Drop(object.path(), dry_run, collected.bytes));
        ++collected.objects;
      }
      // An emptied prefix folder goes too (a writer recreates it when it needs it).
      if (!dry_run) fs::remove(prefix.path(), error);
      error.clear();
    }
  }
  if (error) {
    return InternalError(fmt::format("cannot list {}: {}", objects.string(), error.message()));
  }
  // 3. Files a writer left in tmp/ when it died.
  const fs::path tmp = root_ / "tmp";
  if (fs::exists(tmp, error)) {
    for (const fs::directory_entry& entry : fs::directory_iterator(tmp, error)) {
      if (OlderThan(entry.path(), min_age)) {
        KILN_RETURN_IF_ERROR(Drop(entry.path(), dry_run, collected.bytes));
      }
    }
  }
  return collected;
}

}  // namespace kiln::snapshot
