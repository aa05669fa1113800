#include "snapshot/stat_cache.h"

#include <fmt/format.h>

#include "common/files.h"
#include "common/strings.h"

namespace kiln::snapshot {
namespace {

constexpr std::string_view kHeader = "kiln-stat-cache 1";

// Paths may hold any byte but '\0'; tabs, newlines and backslashes are escaped.
std::string EscapePath(std::string_view path) {
  std::string out;
  for (char c : path) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string UnescapePath(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      const char next = text[++i];
      out += next == 't' ? '\t' : next == 'n' ? '\n' : next;
    } else {
      out += text[i];
    }
  }
  return out;
}

bool SameIdentity(const SourceFile& a, const SourceFile& b) {
  return a.size == b.size && a.mtime_ns == b.mtime_ns && a.ctime_ns == b.ctime_ns &&
         a.inode == b.inode && a.device == b.device && a.executable == b.executable;
}

}  // namespace

StatCache StatCache::Load(const std::filesystem::path& file) {
  StatCache cache;
  const Result<std::string> contents = ReadFileToString(file);
  if (!contents.ok()) return cache;
  const std::vector<std::string> lines = SplitString(*contents, '\n');
  if (lines.empty() || lines[0] != kHeader) return cache;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    const std::vector<std::string> fields = SplitString(lines[i], '\t');
    constexpr std::size_t kFields = 8;
    if (fields.size() != kFields) return StatCache();
    Entry entry;
    entry.sha256 = fields[0];
    const auto size = ParseInt64(fields[1]), mtime = ParseInt64(fields[2]);
    const auto ctime = ParseInt64(fields[3]), inode = ParseInt64(fields[4]);
    const auto device = ParseInt64(fields[5]), executable = ParseInt64(fields[6]);
    if (!size || !mtime || !ctime || !inode || !device || !executable) return StatCache();
    entry.identity.size = static_cast<std::uint64_t>(*size);
    entry.identity.mtime_ns = *mtime;
    entry.identity.ctime_ns = *ctime;
    entry.identity.inode = static_cast<std::uint64_t>(*inode);
    entry.identity.device = static_cast<std::uint64_t>(*device);
    entry.identity.executable = *executable != 0;
    entry.identity.path = UnescapePath(fields[7]);
    cache.entries_[entry.identity.path] = std::move(entry);
  }
  return cache;
}

std::optional<std::string> StatCache::Lookup(const SourceFile& file) const {
  const auto it = entries_.find(file.path);
  if (it == entries_.end() || !SameIdentity(it->second.identity, file)) return std::nullopt;
  return it->second.sha256;
}

void StatCache::Put(const SourceFile& file, const std::string& sha256,
                    std::int64_t scan_started_ns) {
  const std::int64_t newest = std::max(file.mtime_ns, file.ctime_ns);
  if (newest >= scan_started_ns - kRacyWindowNanos) {
    entries_.erase(file.path);
    return;
  }
  entries_[file.path] = Entry{file, sha256};
}

Status StatCache::Save(const std::filesystem::path& file) const {
  std::string out(kHeader);
  out += '\n';
  for (const auto& [path, entry] : entries_) {
    const SourceFile& id = entry.identity;
    out += fmt::format("{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n", entry.sha256, id.size, id.mtime_ns,
                       id.ctime_ns, id.inode, id.device, id.executable ? 1 : 0, EscapePath(path));
  }
  return WriteFileAtomically(file, out, Durability::kCacheOnly);
}

}  // namespace kiln::snapshot
