#include "launch/slot_queue.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sched.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/files.h"
#include "common/strings.h"
#include "launch/gpus.h"

namespace kiln::launch {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::string_view kWaiting = "waiting";
constexpr std::string_view kHolding = "holding";
constexpr int kEntryVersion = 1;
// How long a change waits for the queue's lock. Changes take microseconds; only a holder
// that is stopped (SIGSTOP) holds it longer, and then the caller had better say so.
constexpr std::chrono::seconds kLockWait{10};
constexpr std::chrono::milliseconds kLockRetry{5};

// An exclusive open file description lock on the whole of `fd`; false when another holds it.
Result<bool> TryLock(int fd, const fs::path& path) {
  struct flock lock = {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  if (::fcntl(fd, F_OFD_SETLK, &lock) == 0) return true;
  if (errno == EAGAIN || errno == EACCES) return false;
  return ErrnoError(fmt::format("cannot lock {}", path.string()), errno);
}

// Whether some process holds a lock on `path`, tested without taking it. A missing file is
// not held.
bool IsHeld(const fs::path& path) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  struct flock probe = {};
  probe.l_type = F_WRLCK;
  probe.l_whence = SEEK_SET;
  if (::fcntl(fd.get(), F_OFD_GETLK, &probe) != 0) return true;  // cannot tell: keep it
  return probe.l_type != F_UNLCK;
}

// The queue's lock, held for one change.
class QueueLock {
 public:
  static Result<QueueLock> Take(const fs::path& dir) {
    const fs::path path = dir / "lock";
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd) return ErrnoError(fmt::format("cannot open {}", path.string()), errno);
    const auto deadline = std::chrono::steady_clock::now() + kLockWait;
    while (true) {
      KILN_ASSIGN_OR_RETURN(const bool taken, TryLock(fd.get(), path));
      if (taken) return QueueLock(std::move(fd));
      if (std::chrono::steady_clock::now() >= deadline) {
        return UnavailableError(
            fmt::format("{} has been held for over {} s; is a launcher of this home stopped?",
                        path.string(), kLockWait.count()));
      }
      std::this_thread::sleep_for(kLockRetry);
    }
  }

 private:
  explicit QueueLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

struct Entry {
  std::string file_name;
  std::string run_id;
  SlotKind kind = SlotKind::kCores;
  int need = 0;
  std::string group;
  int group_limit = 0;
};

std::string EntryText(const std::string& run_id, const SlotRequest& request) {
  return json{
      {"version", kEntryVersion}, {"run_id", run_id},       {"kind", SlotKindName(request.kind)},
      {"need", request.need},     {"group", request.group}, {"group_limit", request.group_limit}}
      .dump();
}

std::optional<Entry> ReadEntry(const fs::path& path) {
  const Result<std::string> text = ReadFileToString(path);
  if (!text.ok()) return std::nullopt;
  const json parsed = json::parse(*text, nullptr, false);
  if (!parsed.is_object() || parsed.value("version", 0) != kEntryVersion ||
      !parsed.contains("run_id") || !parsed["run_id"].is_string() || !parsed.contains("kind") ||
      !parsed["kind"].is_string() || !parsed.contains("need") ||
      !parsed["need"].is_number_integer()) {
    return std::nullopt;
  }
  const std::optional<SlotKind> kind = ParseSlotKind(parsed["kind"].get<std::string>());
  if (!kind) return std::nullopt;
  const json group = parsed.value("group", json(""));
  const json limit = parsed.value("group_limit", json(0));
  if (!group.is_string() || !limit.is_number_integer()) return std::nullopt;
  return Entry{path.filename().string(),
               parsed["run_id"].get<std::string>(),
               *kind,
               parsed["need"].get<int>(),
               group.get<std::string>(),
               limit.get<int>()};
}

// How many slot holders each group has.
std::map<std::string, int> GroupHolders(const std::vector<Entry>& holding) {
  std::map<std::string, int> held;
  for (const Entry& entry : holding) {
    if (!entry.group.empty()) ++held[entry.group];
  }
  return held;
}

// A waiter its group's limit holds back: it does not hold up the line.
bool HeldBackByGroup(const Entry& entry, const std::map<std::string, int>& held) {
  if (entry.group.empty()) return false;
  const auto found = held.find(entry.group);
  return found != held.end() && found->second >= entry.group_limit;
}

// The live entries of one folder, sorted by file name. With `remove_stale` (only under the
// queue's lock), a file no process holds is removed; without, it is skipped. An entry being
// written (under the lock, by its owner) is held already, so a reader never takes it for
// stale; one it cannot parse yet is skipped.
std::vector<Entry> ReadEntries(const fs::path& folder, bool remove_stale) {
  std::vector<Entry> entries;
  std::error_code error;
  for (const auto& item : fs::directory_iterator(folder, error)) {
    if (!IsHeld(item.path())) {
      if (remove_stale) fs::remove(item.path(), error);
      continue;
    }
    if (std::optional<Entry> entry = ReadEntry(item.path())) entries.push_back(std::move(*entry));
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.file_name < b.file_name; });
  return entries;
}

// Creates `path` holding its lock, with the entry in it. A stale file of the same name (a
// launcher of this run that died) is replaced.
Result<UniqueFd> CreateHeld(const fs::path& path, std::string_view text) {
  if (IsHeld(path)) {
    return FailedPreconditionError(
        fmt::format("{} is held by another launcher of the same run", path.string()));
  }
  std::error_code error;
  fs::remove(path, error);  // a stale one, left by a launcher of this run that died
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) return ErrnoError(fmt::format("cannot create {}", path.string()), errno);
  KILN_ASSIGN_OR_RETURN(const bool locked, TryLock(fd.get(), path));
  if (!locked) return InternalError(fmt::format("{} is locked by another process", path.string()));
  KILN_RETURN_IF_ERROR(WriteAll(fd.get(), text, path));
  return fd;
}

Status EnsureFolders(const fs::path& dir) {
  for (const fs::path& folder : {dir, dir / kWaiting, dir / kHolding}) {
    std::error_code error;
    fs::create_directories(folder, error);
    if (error) {
      return InternalError(fmt::format("cannot create {}: {}", folder.string(), error.message()));
    }
  }
  return Status::Ok();
}

int MachineCores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

std::string_view SlotKindName(SlotKind kind) { return kind == SlotKind::kGpus ? "gpus" : "cores"; }

std::optional<SlotKind> ParseSlotKind(std::string_view name) {
  if (name == "cores") return SlotKind::kCores;
  if (name == "gpus") return SlotKind::kGpus;
  return std::nullopt;
}

std::string CountOf(int count, SlotKind kind) {
  if (kind == SlotKind::kGpus) return fmt::format("{} GPU{}", count, count == 1 ? "" : "s");
  return fmt::format("{} core{}", count, count == 1 ? "" : "s");
}

Result<SlotSettings> SlotQueue::ReadSettings() const {
  const fs::path path = dir_ / "settings.json";
  const Result<std::string> text = ReadFileToString(path);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return SlotSettings{};
    return text.status();
  }
  const json parsed = json::parse(*text, nullptr, false);
  if (!parsed.is_object() || parsed.value("version", 0) != kSlotSettingsVersion) {
    return DataLossError(fmt::format("{}: not a version {} slot settings file", path.string(),
                                     kSlotSettingsVersion));
  }
  SlotSettings settings;
  for (auto [field, out] : {std::pair{"cores", &settings.cores}, {"gpus", &settings.gpus}}) {
    if (!parsed.contains(field) || parsed[field].is_null()) continue;
    if (!parsed[field].is_number_integer() || parsed[field].get<std::int64_t>() < 1 ||
        parsed[field].get<std::int64_t>() > kMaxSlots) {
      return DataLossError(fmt::format("{}: {} must be a whole number from 1 to {}", path.string(),
                                       field, kMaxSlots));
    }
    *out = parsed[field].get<int>();
  }
  return settings;
}

Status SlotQueue::WriteSettings(const SlotSettings& settings) const {
  json out = {{"version", kSlotSettingsVersion}, {"cores", nullptr}, {"gpus", nullptr}};
  for (auto [field, value] : {std::pair{"cores", settings.cores}, {"gpus", settings.gpus}}) {
    if (!value) continue;
    if (*value < 1 || *value > kMaxSlots) {
      return InvalidArgumentError(
          fmt::format("{} must be from 1 to {}, got {}", field, kMaxSlots, *value));
    }
    out[field] = *value;
  }
  KILN_RETURN_IF_ERROR(EnsureFolders(dir_));
  return WriteFileAtomically(dir_ / "settings.json", out.dump(2) + "\n");
}

Result<int> SlotQueue::Capacity(SlotKind kind) const {
  KILN_ASSIGN_OR_RETURN(const SlotSettings settings, ReadSettings());
  if (kind == SlotKind::kGpus) return settings.gpus.value_or(CountNvidiaDevices());
  return settings.cores.value_or(MachineCores());
}

Result<SlotTicket> SlotQueue::Join(const std::string& run_id, Timestamp came,
                                   const SlotRequest& request) {
  KILN_RETURN_IF_ERROR(EnsureFolders(dir_));
  KILN_ASSIGN_OR_RETURN(const QueueLock lock, QueueLock::Take(dir_));
  const std::string name = fmt::format("{:020}-{}", std::max<Timestamp>(came, 0), run_id);
  KILN_ASSIGN_OR_RETURN(UniqueFd fd,
                        CreateHeld(dir_ / kWaiting / name, EntryText(run_id, request)));
  return SlotTicket(*this, run_id, name, request, std::move(fd));
}

Result<SlotTicket> SlotQueue::Adopt(const std::string& run_id, const SlotRequest& request, int fd) {
  UniqueFd held(fd);
  // Ranks must not inherit it.
  if (::fcntl(held.get(), F_SETFD, FD_CLOEXEC) != 0) return ErrnoError("fcntl(FD_CLOEXEC)", errno);
  struct stat mine {};
  if (::fstat(held.get(), &mine) != 0) return ErrnoError("fstat of the queue descriptor", errno);
  // The waiting file this descriptor is open on, found by what it is, not by its name.
  std::error_code error;
  for (const auto& item : fs::directory_iterator(dir_ / kWaiting, error)) {
    struct stat other {};
    if (::stat(item.path().c_str(), &other) != 0) continue;
    if (other.st_dev != mine.st_dev || other.st_ino != mine.st_ino) continue;
    return SlotTicket(*this, run_id, item.path().filename().string(), request, std::move(held));
  }
  return NotFoundError(
      fmt::format("run {} has no place in {}: descriptor {} is open on no file there", run_id,
                  (dir_ / kWaiting).string(), fd));
}

Result<QueueView> SlotQueue::View(SlotKind kind) const {
  QueueView view;
  KILN_ASSIGN_OR_RETURN(view.capacity, Capacity(kind));
  for (const Entry& entry : ReadEntries(dir_ / kHolding, /*remove_stale=*/false)) {
    if (entry.kind != kind) continue;
    view.used += entry.need;
    view.holding.push_back({entry.run_id, entry.need, entry.group});
  }
  for (const Entry& entry : ReadEntries(dir_ / kWaiting, /*remove_stale=*/false)) {
    if (entry.kind == kind) view.waiting.push_back({entry.run_id, entry.need, entry.group});
  }
  return view;
}

Result<std::string> SlotQueue::DescribeWait(std::string_view run_id) const {
  const std::vector<Entry> holding = ReadEntries(dir_ / kHolding, /*remove_stale=*/false);
  const std::map<std::string, int> held = GroupHolders(holding);
  const std::vector<Entry> waiting = ReadEntries(dir_ / kWaiting, /*remove_stale=*/false);
  for (const Entry& entry : waiting) {
    if (entry.run_id != run_id) continue;
    if (HeldBackByGroup(entry, held)) {
      const int running = held.at(entry.group);
      return fmt::format("waiting for its sweep: {} of its trials hold{} slots, at most {} at once",
                         running, running == 1 ? "s" : "", entry.group_limit);
    }
    KILN_ASSIGN_OR_RETURN(const int capacity, Capacity(entry.kind));
    int used = 0;
    for (const Entry& holder : holding) {
      if (holder.kind == entry.kind) used += holder.need;
    }
    std::size_t place = 1;
    for (const Entry& other : waiting) {
      if (other.run_id == run_id) break;
      if (other.kind == entry.kind && !HeldBackByGroup(other, held)) ++place;
    }
    return fmt::format("waiting for {}; {} of {} free; {} in line", CountOf(entry.need, entry.kind),
                       std::max(0, capacity - used), capacity, Ordinal(place));
  }
  return std::string();
}

Result<bool> SlotTicket::TryTake() {
  if (holding_) return true;
  if (!fd_) return FailedPreconditionError("the run has left the queue");
  const SlotKind kind = request_.kind;
  const int need = request_.need;
  const fs::path& dir = queue_.dir();
  KILN_ASSIGN_OR_RETURN(const QueueLock lock, QueueLock::Take(dir));
  KILN_ASSIGN_OR_RETURN(const int capacity, queue_.Capacity(kind));
  if (need > capacity) {
    return FailedPreconditionError(fmt::format(
        "the run needs {} but compute target 'local' now has {} in all (its settings, `kiln "
        "compute set local`, or this machine changed after the run was submitted)",
        CountOf(need, kind), CountOf(capacity, kind)));
  }
  const std::vector<Entry> holding = ReadEntries(dir / kHolding, /*remove_stale=*/true);
  const std::map<std::string, int> held = GroupHolders(holding);
  int used = 0;
  for (const Entry& entry : holding) {
    if (entry.kind == kind) used += entry.need;
  }
  const std::vector<Entry> waiting = ReadEntries(dir / kWaiting, /*remove_stale=*/true);
  const auto first = std::find_if(waiting.begin(), waiting.end(), [&](const Entry& entry) {
    return entry.kind == kind && !HeldBackByGroup(entry, held);
  });
  if (first == waiting.end() || first->run_id != run_id_ || used + need > capacity) return false;

  KILN_ASSIGN_OR_RETURN(UniqueFd holder,
                        CreateHeld(dir / kHolding / run_id_, EntryText(run_id_, request_)));
  std::error_code error;
  fs::remove(dir / kWaiting / waiting_name_, error);
  fd_ = std::move(holder);
  holding_ = true;
  return true;
}

void SlotTicket::Leave() {
  if (!fd_) return;
  std::error_code error;
  fs::remove(
      queue_.dir() / (holding_ ? fs::path(kHolding) / run_id_ : fs::path(kWaiting) / waiting_name_),
      error);
  fd_.reset();
  holding_ = false;
}

QueueWatch::QueueWatch(const fs::path& queue_dir)
    : inotify_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
  if (!inotify_) return;
  for (const fs::path& folder : {queue_dir, queue_dir / kWaiting, queue_dir / kHolding}) {
    ::inotify_add_watch(inotify_.get(), folder.c_str(), IN_DELETE | IN_MOVED_TO | IN_CREATE);
  }
}

void QueueWatch::Wait(int extra_fd, std::chrono::milliseconds timeout) const {
  std::vector<pollfd> fds;
  if (inotify_) fds.push_back({inotify_.get(), POLLIN, 0});
  if (extra_fd >= 0) fds.push_back({extra_fd, POLLIN, 0});
  ::poll(fds.data(), fds.size(), static_cast<int>(timeout.count()));
  if (!inotify_) return;
  alignas(inotify_event) char events[4096];
  while (::read(inotify_.get(), events, sizeof(events)) > 0) {
  }
}

}  // namespace kiln::launch
