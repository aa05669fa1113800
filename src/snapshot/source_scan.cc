#include "snapshot/source_scan.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "common/files.h"
#include "common/strings.h"
#include "common/tunables.h"
#include "common/unique_fd.h"
#include "snapshot/entry_path.h"
#include "snapshot/ignore_rules.h"

namespace kiln::snapshot {
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t kBytesPerMegabyte = 1'000'000;
constexpr std::size_t kReportedEntries = 5;
constexpr std::string_view kKilnIgnore = ".kilnignore";
constexpr std::string_view kGitIgnore = ".gitignore";

std::int64_t Nanos(const struct timespec& t) {
  return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

// Reads the ignore file of one folder: .kilnignore, else .gitignore.
void LoadIgnoreFile(int dir_fd, std::string_view base, IgnoreRules& rules) {
  for (std::string_view name : {kKilnIgnore, kGitIgnore}) {
    UniqueFd fd(::openat(dir_fd, std::string(name).c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) continue;
    std::string contents;
    char buffer[16 * 1024];
    ssize_t n = 0;
    while ((n = ::read(fd.get(), buffer, sizeof(buffer))) > 0) {
      contents.append(buffer, static_cast<std::size_t>(n));
    }
    rules.AddFile(base, contents);
    return;
  }
}

// The ignore file that holds the root's patterns: .kilnignore, else an existing .gitignore.
std::string_view RootIgnoreFile(int root_fd) {
  if (::faccessat(root_fd, std::string(kKilnIgnore).c_str(), F_OK, AT_SYMLINK_NOFOLLOW) != 0 &&
      ::faccessat(root_fd, std::string(kGitIgnore).c_str(), F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
    return kGitIgnore;
  }
  return kKilnIgnore;
}

class Walker {
 public:
  Walker(SourceScan& scan, std::string_view root_ignore_file)
      : scan_(scan), root_ignore_file_(root_ignore_file) {
    rules_.AddPattern("", ".git/");
    // The run's own folders in its src/ (links the launcher makes): docs/snapshots.md.
    rules_.AddPattern("", "/outputs/");
    rules_.AddPattern("", "/logs/");
  }

  Status Walk(int dir_fd, const std::string& base) {
    LoadIgnoreFile(dir_fd, base, rules_);
    // fdopendir takes the descriptor; dup it so the caller's stays open.
    DIR* dir = ::fdopendir(::dup(dir_fd));
    if (dir == nullptr) {
      return ErrnoError(fmt::format("cannot read folder {}", (scan_.root / base).string()), errno);
    }
    std::vector<std::string> names;
    while (const dirent* entry = ::readdir(dir)) {
      const std::string_view name = entry->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
    }
    ::closedir(dir);
    for (const std::string& name : names) {
      const std::string path = base.empty() ? name : base + "/" + name;
      struct stat info {};
      if (::fstatat(dir_fd, name.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;  // Removed while we looked.
        return ErrnoError(fmt::format("cannot stat {}", (scan_.root / path).string()), errno);
      }
      if (S_ISDIR(info.st_mode)) {
        if (rules_.IsIgnored(path, true)) continue;
        KILN_RETURN_IF_ERROR(CheckName(path, true));
        UniqueFd child(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!child) {
          return ErrnoError(fmt::format("cannot open folder {}", (scan_.root / path).string()),
                            errno);
        }
        KILN_RETURN_IF_ERROR(Walk(child.get(), path));
        continue;
      }
      if (!S_ISREG(info.st_mode) && !S_ISLNK(info.st_mode)) continue;
      if (rules_.IsIgnored(path, false)) continue;
      KILN_RETURN_IF_ERROR(CheckName(path, false));
      SourceFile file;
      file.path = path;
      file.mtime_ns = Nanos(info.st_mtim);
      file.ctime_ns = Nanos(info.st_ctim);
      file.inode = info.st_ino;
      file.device = info.st_dev;
      if (S_ISLNK(info.st_mode)) {
        file.kind = EntryKind::kSymlink;
        std::string target(static_cast<std::size_t>(info.st_size) + 1, '\0');
        const ssize_t n = ::readlinkat(dir_fd, name.c_str(), target.data(), target.size());
        if (n < 0) {
          return ErrnoError(fmt::format("cannot read link {}", (scan_.root / path).string()),
                            errno);
        }
        target.resize(static_cast<std::size_t>(n));
        if (std::optional<std::string> problem = TextProblem(target)) {
          return Unsnapshottable(path, false, "the link's target: " + *problem);
        }
        file.link_target = std::move(target);
      } else {
        file.size = static_cast<std::uint64_t>(info.st_size);
        file.executable = (info.st_mode & 0111) != 0;
        scan_.total_bytes += file.size;
      }
      scan_.files.push_back(std::move(file));
    }
    return Status::Ok();
  }

 private:
  // A manifest is JSON and its paths are checked where it is received (manifest_check.h):
  // a name neither allows is refused here, before anything is stored.
  Status CheckName(const std::string& path, bool is_directory) const {
    if (std::optional<std::string> problem = EntryPathProblem(path)) {
      return Unsnapshottable(path, is_directory, *problem);
    }
    return Status::Ok();
  }

  Status Unsnapshottable(const std::string& path, bool is_directory,
                         std::string_view problem) const {
    return InvalidArgumentError(
        fmt::format("'{}' in {} cannot be snapshotted: {}; rename it, or add the line '{}' to {}",
                    EscapeForMessage(path), scan_.root.string(), problem,
                    IgnoreLineFor(path, is_directory), (scan_.root / root_ignore_file_).string()));
  }

  SourceScan& scan_;
  std::string_view root_ignore_file_;
  IgnoreRules rules_;
};

// "1 file", "2,000 files".
std::string Files(std::uint64_t count) {
  return HumanCount(count) + (count == 1 ? " file" : " files");
}

struct Usage {
  std::uint64_t bytes = 0;
  std::uint64_t files = 0;
};

}  // namespace

Result<SnapshotLimits> LimitsFromEnvironment() {
  KILN_ASSIGN_OR_RETURN(const std::int64_t megabytes, ReadTunable(kSnapshotMaxMegabytes));
  KILN_ASSIGN_OR_RETURN(const std::int64_t files, ReadTunable(kSnapshotMaxFiles));
  return SnapshotLimits{static_cast<std::uint64_t>(megabytes) * kBytesPerMegabyte,
                        static_cast<std::uint64_t>(files)};
}

Result<SourceScan> ScanSource(const fs::path& root) {
  SourceScan scan;
  scan.root = AbsolutePath(root);
  UniqueFd fd(::open(scan.root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return NotFoundError(fmt::format("{} does not exist", scan.root.string()));
    return ErrnoError(fmt::format("cannot open folder {}", scan.root.string()), errno);
  }
  Walker walker(scan, RootIgnoreFile(fd.get()));
  KILN_RETURN_IF_ERROR(walker.Walk(fd.get(), ""));
  std::sort(scan.files.begin(), scan.files.end(),
            [](const SourceFile& a, const SourceFile& b) { return a.path < b.path; });
  return scan;
}

Status CheckLimits(const SourceScan& scan, const SnapshotLimits& limits) {
  const bool too_big = scan.total_bytes > limits.max_bytes;
  const bool too_many = scan.files.size() > limits.max_files;
  if (!too_big && !too_many) return Status::Ok();

  // Usage of each top-level entry, to show what is worth ignoring.
  std::map<std::string, Usage> top;
  for (const SourceFile& file : scan.files) {
    const std::size_t slash = file.path.find('/');
    const std::string key = slash == std::string::npos ? file.path : file.path.substr(0, slash + 1);
    top[key].bytes += file.size;
    top[key].files += 1;
  }
  std::vector<std::pair<std::string, Usage>> entries(top.begin(), top.end());
  std::sort(entries.begin(), entries.end(), [&](const auto& a, const auto& b) {
    return too_big ? a.second.bytes > b.second.bytes : a.second.files > b.second.files;
  });
  std::vector<const SourceFile*> files;
  for (const SourceFile& file : scan.files) files.push_back(&file);
  std::sort(files.begin(), files.end(),
            [](const SourceFile* a, const SourceFile* b) { return a->size > b->size; });

  std::string message = fmt::format(
      "'{}' is too large to snapshot: {} in {}; the limit is {} and {}.\nLargest entries:\n",
      scan.root.string(), HumanBytes(scan.total_bytes), Files(scan.files.size()),
      HumanBytes(limits.max_bytes), Files(limits.max_files));
  for (std::size_t i = 0; i < entries.size() && i < kReportedEntries; ++i) {
    const auto& [name, usage] = entries[i];
    message +=
        fmt::format("  {:<32} {:>10} {:>12}\n", name, HumanBytes(usage.bytes), Files(usage.files));
  }
  message += "Largest files:\n";
  for (std::size_t i = 0; i < files.size() && i < kReportedEntries; ++i) {
    message += fmt::format("  {:<32} {:>10}\n", files[i]->path, HumanBytes(files[i]->size));
  }
  // Suggest the fewest of the largest entries whose removal brings the folder under both
  // limits.
  std::vector<std::string> suggestions;
  std::uint64_t bytes_left = scan.total_bytes;
  std::uint64_t files_left = scan.files.size();
  for (const auto& [name, usage] : entries) {
    if (bytes_left <= limits.max_bytes && files_left <= limits.max_files) break;
    if (suggestions.size() == kReportedEntries) break;
    suggestions.push_back(name.ends_with('/') ? name : "/" + name);
    bytes_left -= usage.bytes;
    files_left -= usage.files;
  }
  message += fmt::format("Add what the job does not need to {} (gitignore syntax), e.g.:\n",
                         (scan.root / kKilnIgnore).string());
  for (const std::string& suggestion : suggestions) message += "  " + suggestion + "\n";
  message += fmt::format("or raise the limits with {} and {}.", kSnapshotMaxMegabytes.env,
                         kSnapshotMaxFiles.env);
  return ResourceExhaustedError(std::move(message));
}

}  // namespace kiln::snapshot
