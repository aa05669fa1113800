#pragma once

// File helpers over POSIX calls, returning Status with the path in every message.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/status.h"

namespace kiln {

Result<std::string> ReadFileToString(const std::filesystem::path& path);

// Writes all of `data` to `fd`, retrying short writes and EINTR; `path` names the file in
// errors.
Status WriteAll(int fd, std::string_view data, const std::filesystem::path& path);

enum class Durability {
  kSynced,     // fsync before the rename: the new contents survive a power loss
  kCacheOnly,  // no fsync: for files that can be rebuilt (caches)
};

// Writes `contents` to a temporary file beside `path` and renames it over `path`: readers see
// the old or the new file, never a torn one. Concurrent writers (threads or processes) are
// safe; the last rename wins.
Status WriteFileAtomically(const std::filesystem::path& path, std::string_view contents,
                           Durability durability = Durability::kSynced);

Status CreateDirectories(const std::filesystem::path& path);

// Copies a regular file's bytes (in the kernel where it can) and sets `mode` on the copy.
// The copy is created exclusively: an existing `to` is an AlreadyExists error.
Status CopyFileContents(const std::filesystem::path& from, const std::filesystem::path& to,
                        unsigned mode);

// Copies a file or a whole directory tree. Symbolic links are copied as links.
Status CopyTree(const std::filesystem::path& from, const std::filesystem::path& to);

// Removes a tree; a missing path is fine.
Status RemoveTree(const std::filesystem::path& path);

// Whether `path` was last modified at least `age` ago; false when it cannot be read.
bool OlderThan(const std::filesystem::path& path, std::chrono::seconds age);

// True when `path`, after resolving "..", symlinks and the like, lies inside `root`
// (or is `root`). Both must exist.
bool IsWithin(const std::filesystem::path& path, const std::filesystem::path& root);

// The path with "~/" expanded and made absolute against the current directory, without
// resolving symbolic links.
std::filesystem::path AbsolutePath(const std::filesystem::path& path);

}  // namespace kiln
