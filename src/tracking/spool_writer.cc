#include "tracking/spool_writer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "tracking/spool_reader.h"

namespace kiln::tracking {
namespace {

constexpr std::size_t kFirstMapping = 1u << 20;
constexpr std::size_t kLargestGrowth = 64u << 20;
constexpr std::size_t kScalarRecordBytes = kRecordHeaderBytes + kScalarPayloadBytes;

// Bumped in every forked child, so a writer can tell it is in a copy of its process without
// a system call per record.
std::atomic<int> g_fork_generation{0};
std::once_flag g_atfork_once;

int ForkGeneration() {
  std::call_once(g_atfork_once, [] {
    ::pthread_atfork(nullptr, nullptr, [] { g_fork_generation.fetch_add(1); });
  });
  return g_fork_generation.load(std::memory_order_relaxed);
}

}  // namespace

Status ValidateMetricName(std::string_view name) {
  if (name.empty()) return InvalidArgumentError("metric name must not be empty");
  if (name.size() > kMaxNameBytes) {
    return InvalidArgumentError(fmt::format("metric name '{}...' is {} bytes; the most is {}",
                                            name.substr(0, 32), name.size(), kMaxNameBytes));
  }
  return Status::Ok();
}

Result<std::unique_ptr<SpoolWriter>> SpoolWriter::Open(const std::filesystem::path& path, int rank,
                                                       const Clock& clock) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) return ErrnoError(fmt::format("cannot open metric spool {}", path.string()), errno);
  std::unique_ptr<SpoolWriter> writer(new SpoolWriter(std::move(fd), path, clock));
  writer->fork_generation_ = ForkGeneration();
  struct stat info {};
  if (::fstat(writer->fd_.get(), &info) != 0) {
    return ErrnoError(fmt::format("cannot stat {}", path.string()), errno);
  }
  std::lock_guard lock(writer->mu_);
  if (info.st_size == 0) {
    KILN_RETURN_IF_ERROR(writer->Reserve(kSpoolHeaderBytes));
    const std::string header = EncodeSpoolHeader(rank, clock.Now());
    std::memcpy(writer->map_, header.data(), header.size());
    writer->end_ = header.size();
  } else {
    KILN_RETURN_IF_ERROR(writer->Resume());
  }
  return writer;
}

Status SpoolWriter::Resume() {
  // Rebuild the names and their step counters from what is there; continue after the last
  // valid record (a torn tail is overwritten).
  SpoolReader reader(path_);
  KILN_ASSIGN_OR_RETURN(const SpoolChunk chunk, reader.Read(0, /*final=*/true));
  std::unordered_map<std::uint32_t, NameInfo*> by_id;
  for (const Record& record : chunk.records) {
    if (const auto* name = std::get_if<NameRecord>(&record)) {
      NameInfo& info = names_[name->name];
      info = NameInfo{name->id, name->kind, 0};
      by_id[name->id] = &info;
      next_name_id_ = std::max(next_name_id_, name->id + 1);
    } else if (const auto* scalar = std::get_if<ScalarRecord>(&record)) {
      if (auto it = by_id.find(scalar->name_id); it != by_id.end()) {
        it->second->next_step = std::max(it->second->next_step, scalar->step + 1);
      }
    }
  }
  end_ = static_cast<std::size_t>(chunk.end_offset);
  KILN_RETURN_IF_ERROR(Reserve(0));
  // Zero whatever followed the valid records, so the data ends where it should.
  std::memset(map_ + end_, 0, mapped_ - end_);
  return Status::Ok();
}

SpoolWriter::~SpoolWriter() { Close().IgnoreError(); }

Status SpoolWriter::CheckWritable() const {
  if (closed_) return FailedPreconditionError("the metric spool is closed");
  if (fork_generation_ != g_fork_generation.load(std::memory_order_relaxed)) {
    return FailedPreconditionError(
        "metrics cannot be logged from a forked child process; log from the process that "
        "started logging");
  }
  return Status::Ok();
}

Status SpoolWriter::Reserve(std::size_t bytes) {
  if (end_ + bytes <= mapped_ && map_ != nullptr) return Status::Ok();
  std::size_t size = std::max(kFirstMapping, mapped_ + std::min(mapped_, kLargestGrowth));
  while (size < end_ + bytes) size += std::min(std::max(size, kFirstMapping), kLargestGrowth);
  struct stat info {};
  if (::fstat(fd_.get(), &info) == 0 && static_cast<std::size_t>(info.st_size) > size) {
    size = static_cast<std::size_t>(info.st_size);
  }
  if (::ftruncate(fd_.get(), static_cast<off_t>(size)) != 0) {
    return ErrnoError(fmt::format("cannot grow metric spool {}", path_.string()), errno);
  }
  void* mapped = map_ == nullptr
                     ? ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0)
                     : ::mremap(map_, mapped_, size, MREMAP_MAYMOVE);
  if (mapped == MAP_FAILED) {
    return ErrnoError(fmt::format("cannot map metric spool {}", path_.string()), errno);
  }
  map_ = static_cast<char*>(mapped);
  mapped_ = size;
  return Status::Ok();
}

void SpoolWriter::Put(std::string_view framed) {
  std::memcpy(map_ + end_ + 4, framed.data() + 4, framed.size() - 4);
  std::atomic_thread_fence(std::memory_order_release);
  std::memcpy(map_ + end_, framed.data(), 4);
  end_ += framed.size();
}

Result<SpoolWriter::NameInfo*> SpoolWriter::Name(std::string_view name, MetricKind kind,
                                                 std::string_view description) {
  if (auto it = names_.find(name); it != names_.end()) {
    if (it->second.kind != kind) {
      return InvalidArgumentError(
          fmt::format("metric '{}' was logged as a {}; it cannot also be a {} (use another name)",
                      name, MetricKindName(it->second.kind), MetricKindName(kind)));
    }
    return &it->second;
  }
  KILN_RETURN_IF_ERROR(ValidateMetricName(name));
  if (description.size() > kMaxDescriptionBytes) {
    return InvalidArgumentError(
        fmt::format("description of metric '{}' is {} bytes; the most is {}", name,
                    description.size(), kMaxDescriptionBytes));
  }
  NameRecord record{next_name_id_, kind, std::string(name), std::string(description)};
  std::string framed;
  AppendRecord(record, framed);
  KILN_RETURN_IF_ERROR(Reserve(framed.size()));
  Put(framed);
  ++next_name_id_;
  auto [it, inserted] = names_.emplace(std::string(name), NameInfo{record.id, kind, 0});
  return &it->second;
}

Status SpoolWriter::LogScalar(std::string_view name, double value, std::optional<std::int64_t> step,
                              std::string_view description) {
  if (!std::isfinite(value)) {
    return InvalidArgumentError(
        fmt::format("metric '{}': value must be a finite number, got {}", name, value));
  }
  std::lock_guard lock(mu_);
  KILN_RETURN_IF_ERROR(CheckWritable());
  NameInfo* info = last_scalar_info_;
  if (info == nullptr || name != last_scalar_) {
    KILN_ASSIGN_OR_RETURN(info, Name(name, MetricKind::kScalar, description));
    last_scalar_.assign(name);
    last_scalar_info_ = info;
  }
  KILN_RETURN_IF_ERROR(Reserve(kScalarRecordBytes));
  const std::int64_t at_step = step.value_or(info->next_step);
  info->next_step = std::max(info->next_step, at_step + 1);
  WriteScalarRecord(ScalarRecord{info->id, at_step, value, clock_.Now()}, map_ + end_);
  end_ += kScalarRecordBytes;
  return Status::Ok();
}

Status SpoolWriter::LogValue(std::string_view name, MetricKind kind, std::string_view json,
                             std::string_view description) {
  if (json.size() > kMaxRecordBytes - 64) {
    return InvalidArgumentError(
        fmt::format("metric '{}': the value is {} bytes; the most is 64 MiB", name, json.size()));
  }
  std::lock_guard lock(mu_);
  KILN_RETURN_IF_ERROR(CheckWritable());
  KILN_ASSIGN_OR_RETURN(NameInfo * info, Name(name, kind, description));
  std::string framed;
  AppendRecord(ValueRecord{info->id, clock_.Now(), std::string(json)}, framed);
  KILN_RETURN_IF_ERROR(Reserve(framed.size()));
  Put(framed);
  return Status::Ok();
}

Status SpoolWriter::Tag(std::string_view key, std::string_view value) {
  if (key.empty() || key.size() > kMaxNameBytes) {
    return InvalidArgumentError(fmt::format("tag key must be 1 to {} bytes", kMaxNameBytes));
  }
  std::lock_guard lock(mu_);
  KILN_RETURN_IF_ERROR(CheckWritable());
  std::string framed;
  AppendRecord(TagRecord{clock_.Now(), std::string(key), std::string(value)}, framed);
  KILN_RETURN_IF_ERROR(Reserve(framed.size()));
  Put(framed);
  return Status::Ok();
}

std::uint64_t SpoolWriter::size() const {
  std::lock_guard lock(mu_);
  return end_;
}

void SpoolWriter::Unmap() {
  if (map_ != nullptr) ::munmap(map_, mapped_);
  map_ = nullptr;
  mapped_ = 0;
}

Status SpoolWriter::Close() {
  std::lock_guard lock(mu_);
  if (closed_) return Status::Ok();
  closed_ = true;
  // A forked child must not touch its parent's file.
  if (fork_generation_ != g_fork_generation.load(std::memory_order_relaxed)) {
    Unmap();
    return Status::Ok();
  }
  // No msync or fsync: forcing a large spool to disk at exit costs seconds and protects
  // nothing the launcher does not already have (see the header).
  Unmap();
  if (::ftruncate(fd_.get(), static_cast<off_t>(end_)) != 0) {
    return ErrnoError(fmt::format("cannot trim {}", path_.string()), errno);
  }
  return Status::Ok();
}

}  // namespace kiln::tracking
