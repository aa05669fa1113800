#include "snapshot/manifest_check.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <unordered_map>

#include "common/strings.h"
#include "common/tunables.h"
#include "snapshot/entry_path.h"

namespace kiln::snapshot {

namespace {

// The run's artifact folder in a run's src/ (a link the launcher makes to ../outputs).
constexpr std::string_view kOutputs = "outputs";

Status EntryError(std::size_t index, const ManifestEntry& entry, std::string_view problem) {
  return InvalidArgumentError(fmt::format("snapshot manifest entries[{}] '{}': {}", index,
                                          EscapeForMessage(entry.path), problem));
}

// "1 file", "2,001 files".
std::string Files(std::uint64_t count) {
  return HumanCount(count) + (count == 1 ? " file" : " files");
}

}  // namespace

Status CheckManifest(const Manifest& manifest) {
  std::unordered_map<std::string_view, EntryKind> kinds;
  kinds.reserve(manifest.entries.size());
  for (std::size_t i = 0; i < manifest.entries.size(); ++i) {
    const ManifestEntry& entry = manifest.entries[i];
    if (std::optional<std::string> problem = EntryPathProblem(entry.path)) {
      return EntryError(i, entry, *problem);
    }
    if (entry.path == kOutputs || entry.path.starts_with(std::string(kOutputs) + "/")) {
      return EntryError(i, entry,
                        "'outputs' at the top is the run's artifact folder, never part of a "
                        "snapshot");
    }
    if (i > 0) {
      const std::string& previous = manifest.entries[i - 1].path;
      if (entry.path == previous) return EntryError(i, entry, "the path appears twice");
      if (entry.path < previous) {
        return EntryError(i, entry,
                          fmt::format("comes after '{}'; entries are sorted by path (byte order)",
                                      EscapeForMessage(previous)));
      }
    }
    if (entry.kind == EntryKind::kFile && !IsSha256Hex(entry.sha256)) {
      return EntryError(i, entry,
                        fmt::format("sha256 '{}' is not 64 lowercase hex digits",
                                    EscapeForMessage(entry.sha256)));
    }
    if (entry.kind == EntryKind::kSymlink) {
      if (entry.link_target.empty()) return EntryError(i, entry, "the link's target is empty");
      if (entry.link_target.size() > kMaxPathBytes) {
        return EntryError(i, entry,
                          fmt::format("the link's target is {} bytes long; the most is {}",
                                      entry.link_target.size(), kMaxPathBytes));
      }
      if (std::optional<std::string> problem = TextProblem(entry.link_target)) {
        return EntryError(i, entry, "the link's target: " + *problem);
      }
    }
    kinds.emplace(entry.path, entry.kind);
  }
  // Sorted order does not keep a folder's entries together ("a-b" sorts between "a" and
  // "a/b"), so each entry's folders are looked up.
  for (std::size_t i = 0; i < manifest.entries.size(); ++i) {
    const ManifestEntry& entry = manifest.entries[i];
    for (std::size_t slash = entry.path.find('/'); slash != std::string::npos;
         slash = entry.path.find('/', slash + 1)) {
      const std::string_view folder = std::string_view(entry.path).substr(0, slash);
      const auto found = kinds.find(folder);
      if (found == kinds.end()) continue;
      return EntryError(
          i, entry,
          found->second == EntryKind::kSymlink
              ? fmt::format("lies below the symlink '{}'; nothing is written through a link",
                            EscapeForMessage(folder))
              : fmt::format("lies below the file '{}'", EscapeForMessage(folder)));
    }
  }
  return Status::Ok();
}

Status CheckManifestLimits(const Manifest& manifest, const SnapshotLimits& limits) {
  std::uint64_t total = 0;
  const ManifestEntry* largest = nullptr;
  for (const ManifestEntry& entry : manifest.entries) {
    // Saturates: hostile sizes must not wrap the sum below the limit.
    total = entry.size > std::numeric_limits<std::uint64_t>::max() - total
                ? std::numeric_limits<std::uint64_t>::max()
                : total + entry.size;
    if (largest == nullptr || entry.size > largest->size) largest = &entry;
  }
  const std::uint64_t count = manifest.entries.size();
  if (total <= limits.max_bytes && count <= limits.max_files) return Status::Ok();
  return ResourceExhaustedError(fmt::format(
      "the snapshot holds {} in {} (the largest '{}', {}); the limit is {} and {} "
      "({} and {} where the snapshot is received); add what the job does not need to "
      ".kilnignore",
      HumanBytes(total), Files(count), largest != nullptr ? EscapeForMessage(largest->path) : "",
      HumanBytes(largest != nullptr ? largest->size : 0), HumanBytes(limits.max_bytes),
      Files(limits.max_files), kSnapshotMaxMegabytes.env, kSnapshotMaxFiles.env));
}

}  // namespace kiln::snapshot
