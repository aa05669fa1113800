#include "client/torch_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <optional>

#include "client/pickle_scan.h"
#include "common/unique_fd.h"

namespace kiln::client {

namespace fs = std::filesystem;

namespace {

// Bounds on what is read, whatever the file claims.
constexpr std::uint64_t kMaxCentralDirectoryBytes = 64u << 20;
constexpr std::uint64_t kMaxPickleBytes = 64u << 20;
// The end-of-central-directory record is 22 bytes plus a comment of at most 65535.
constexpr std::uint64_t kMaxEndRecordSearch = 22 + 65535;
constexpr std::uint32_t kLocalHeader = 0x04034b50;
constexpr std::uint32_t kCentralHeader = 0x02014b50;
constexpr std::uint32_t kEndRecord = 0x06054b50;
constexpr std::uint32_t kZip64Locator = 0x07064b50;
constexpr std::uint32_t kZip64EndRecord = 0x06064b50;
constexpr std::uint16_t kZip64ExtraId = 0x0001;

// torch.save's legacy stream opens with a pickle (protocol 2) of the magic number
// 0x1950a86a20f9469cfc6c: PROTO 2, LONG1 of 10 bytes, little-endian.
constexpr std::string_view kLegacyMagic =
    "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";

std::uint64_t Le(std::string_view bytes, std::size_t at, int width) {
  std::uint64_t value = 0;
  for (int i = width - 1; i >= 0; --i) {
    value = (value << 8) | static_cast<unsigned char>(bytes[at + static_cast<std::size_t>(i)]);
  }
  return value;
}

class FileReader {
 public:
  static Result<FileReader> Open(const fs::path& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return ErrnoError(fmt::format("cannot read '{}'", path.string()), errno);
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0) {
      return ErrnoError(fmt::format("cannot read '{}'", path.string()), errno);
    }
    return FileReader(std::move(fd), static_cast<std::uint64_t>(info.st_size), path);
  }

  std::uint64_t size() const { return size_; }

  // Up to `length` bytes from `offset` (fewer at the end of the file).
  Result<std::string> Read(std::uint64_t offset, std::uint64_t length) const {
    if (offset >= size_) return std::string();
    std::string out(static_cast<std::size_t>(std::min(length, size_ - offset)), '\0');
    std::size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = ::pread(fd_.get(), out.data() + done, out.size() - done,
                                static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoError(fmt::format("cannot read '{}'", path_.string()), errno);
      if (n == 0) break;
      done += static_cast<std::size_t>(n);
    }
    out.resize(done);
    return out;
  }

 private:
  FileReader(UniqueFd fd, std::uint64_t size, fs::path path)
      : fd_(std::move(fd)), size_(size), path_(std::move(path)) {}
  UniqueFd fd_;
  std::uint64_t size_;
  fs::path path_;
};

struct ZipEntry {
  std::string name;
  std::uint16_t method = 0;  // 0: stored
  std::uint64_t compressed_size = 0;
  std::uint64_t local_offset = 0;
};

// Where the central directory is and how many entries it has; nullopt for no zip.
struct CentralDirectory {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
  std::uint64_t entries = 0;
};

Result<std::optional<CentralDirectory>> FindCentralDirectory(const FileReader& file) {
  const std::uint64_t tail_start =
      file.size() > kMaxEndRecordSearch ? file.size() - kMaxEndRecordSearch : 0;
  KILN_ASSIGN_OR_RETURN(const std::string tail, file.Read(tail_start, file.size() - tail_start));
  if (tail.size() < 22) return std::optional<CentralDirectory>();
  for (std::size_t at = tail.size() - 22 + 1; at-- > 0;) {
    if (Le(tail, at, 4) != kEndRecord) continue;
    CentralDirectory found{Le(tail, at + 16, 4), Le(tail, at + 12, 4), Le(tail, at + 10, 2)};
    // ZIP64: the locator sits just before the record and points at the 64-bit record.
    const std::uint64_t record_offset = tail_start + at;
    if (record_offset >= 20) {
      KILN_ASSIGN_OR_RETURN(const std::string locator, file.Read(record_offset - 20, 20));
      if (locator.size() == 20 && Le(locator, 0, 4) == kZip64Locator) {
        KILN_ASSIGN_OR_RETURN(const std::string record, file.Read(Le(locator, 8, 8), 56));
        if (record.size() < 56 || Le(record, 0, 4) != kZip64EndRecord) {
          return std::optional<CentralDirectory>();
        }
        found = {Le(record, 48, 8), Le(record, 40, 8), Le(record, 32, 8)};
      }
    }
    return std::optional<CentralDirectory>(found);
  }
  return std::optional<CentralDirectory>();
}

// The entries of the central directory; empty when it is damaged or too large to read.
Result<std::vector<ZipEntry>> ReadZipEntries(const FileReader& file) {
  KILN_ASSIGN_OR_RETURN(const std::optional<CentralDirectory> where, FindCentralDirectory(file));
  if (!where || where->size > kMaxCentralDirectoryBytes) return std::vector<ZipEntry>();
  KILN_ASSIGN_OR_RETURN(const std::string directory, file.Read(where->offset, where->size));
  std::vector<ZipEntry> entries;
  std::size_t at = 0;
  for (std::uint64_t i = 0; i < where->entries; ++i) {
    if (at + 46 > directory.size() || Le(directory, at, 4) != kCentralHeader) break;
    ZipEntry entry;
    entry.method = static_cast<std::uint16_t>(Le(directory, at + 10, 2));
    entry.compressed_size = Le(directory, at + 20, 4);
    const std::uint64_t uncompressed = Le(directory, at + 24, 4);
    const std::size_t name_length = Le(directory, at + 28, 2);
    const std::size_t extra_length = Le(directory, at + 30, 2);
    const std::size_t comment_length = Le(directory, at + 32, 2);
    entry.local_offset = Le(directory, at + 42, 4);
    if (at + 46 + name_length + extra_length > directory.size()) break;
    entry.name = directory.substr(at + 46, name_length);
    // ZIP64 sizes and offset, in this order, for each 32-bit field that says 0xFFFFFFFF.
    std::size_t extra = at + 46 + name_length;
    const std::size_t extra_end = extra + extra_length;
    while (extra + 4 <= extra_end) {
      const std::uint64_t id = Le(directory, extra, 2);
      const std::size_t length = Le(directory, extra + 2, 2);
      std::size_t field = extra + 4;
      if (id == kZip64ExtraId) {
        const auto next = [&](std::uint64_t* value) {
          if (*value != 0xFFFFFFFFu || field + 8 > extra_end) return;
          *value = Le(directory, field, 8);
          field += 8;
        };
        std::uint64_t uncompressed_size = uncompressed;
        next(&uncompressed_size);
        next(&entry.compressed_size);
        next(&entry.local_offset);
      }
      extra += 4 + length;
    }
    entries.push_back(std::move(entry));
    at += 46 + name_length + extra_length + comment_length;
  }
  return entries;
}

// A stored entry's bytes; nullopt when compressed, damaged or too large.
Result<std::optional<std::string>> ReadStoredEntry(const FileReader& file, const ZipEntry& entry) {
  if (entry.method != 0 || entry.compressed_size > kMaxPickleBytes) {
    return std::optional<std::string>();
  }
  KILN_ASSIGN_OR_RETURN(const std::string header, file.Read(entry.local_offset, 30));
  if (header.size() < 30 || Le(header, 0, 4) != kLocalHeader) return std::optional<std::string>();
  const std::uint64_t start = entry.local_offset + 30 + Le(header, 26, 2) + Le(header, 28, 2);
  KILN_ASSIGN_OR_RETURN(std::string bytes, file.Read(start, entry.compressed_size));
  if (bytes.size() != entry.compressed_size) return std::optional<std::string>();
  return std::optional<std::string>(std::move(bytes));
}

TorchFileKind KindOfPickle(std::string_view pickle, std::size_t pos) {
  const Result<PickleFacts> facts = WalkPickle(pickle, &pos);
  if (!facts.ok()) return TorchFileKind::kPickle;
  return IsStateDict(*facts) ? TorchFileKind::kStateDict : TorchFileKind::kPickle;
}

Result<TorchFileKind> InspectZip(const FileReader& file) {
  KILN_ASSIGN_OR_RETURN(const std::vector<ZipEntry> entries, ReadZipEntries(file));
  const ZipEntry* data = nullptr;
  for (const ZipEntry& entry : entries) {
    const std::size_t slash = entry.name.find('/');
    if (slash == std::string::npos || slash == 0) continue;
    const std::string_view rest = std::string_view(entry.name).substr(slash + 1);
    if (rest.starts_with("code/") || rest == "constants.pkl") return TorchFileKind::kTorchScript;
    if (rest == "data.pkl") data = &entry;
  }
  if (data == nullptr) return TorchFileKind::kNotTorch;
  KILN_ASSIGN_OR_RETURN(const std::optional<std::string> pickle, ReadStoredEntry(file, *data));
  if (!pickle) return TorchFileKind::kPickle;
  return KindOfPickle(*pickle, 0);
}

// The legacy stream: the magic number, the protocol version, the system's description, then
// the object.
Result<TorchFileKind> InspectLegacy(const FileReader& file) {
  KILN_ASSIGN_OR_RETURN(const std::string head, file.Read(0, kMaxPickleBytes));
  std::size_t pos = 0;
  for (int skipped = 0; skipped < 3; ++skipped) {
    if (!WalkPickle(head, &pos).ok()) return TorchFileKind::kPickle;
  }
  return KindOfPickle(head, pos);
}

}  // namespace

std::string_view TorchFileKindName(TorchFileKind kind) {
  switch (kind) {
    case TorchFileKind::kNotTorch:
      return "file";
    case TorchFileKind::kTorchScript:
      return "torchscript";
    case TorchFileKind::kStateDict:
      return "state_dict";
    case TorchFileKind::kPickle:
      return "pickle";
  }
  return "file";
}

Result<TorchFileKind> InspectTorchFile(const fs::path& path) {
  KILN_ASSIGN_OR_RETURN(const FileReader file, FileReader::Open(path));
  KILN_ASSIGN_OR_RETURN(const std::string head, file.Read(0, kLegacyMagic.size()));
  if (head.size() >= 4 && Le(head, 0, 4) == kLocalHeader) return InspectZip(file);
  if (head == kLegacyMagic) return InspectLegacy(file);
  return TorchFileKind::kNotTorch;
}

}  // namespace kiln::client
