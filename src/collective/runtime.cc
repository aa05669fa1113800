#include "collective/runtime.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <numeric>

#include "collective/spin.h"

namespace kiln::collective {
namespace {

int64_t RowElements(const std::vector<int64_t>& shape) {
  int64_t row = 1;
  for (size_t i = 1; i < shape.size(); ++i) row *= shape[i];
  return row;
}

std::string PhaseName(OpType op) {
  std::string name(OpTypeName(op));
  for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

std::string Ranks(const std::vector<int>& ranks) {
  return fmt::format("{}", fmt::join(ranks, ", "));
}

// `ranks`: those of the request's process set; `rank`: this one.
Status Validate(const Request& request, const std::vector<int>& ranks, int rank) {
  const std::string& name = request.name;
  const int size = static_cast<int>(ranks.size());
  if (name.empty()) return InvalidArgumentError("kiln.hvd: an op was enqueued without a name");
  if (!std::binary_search(ranks.begin(), ranks.end(), rank)) {
    return InvalidArgumentError(fmt::format(
        "kiln.hvd: {} of '{}' in process set {}, whose ranks [{}] do not include rank {}; only "
        "a set's ranks may call its ops",
        OpTypeName(request.op), name, request.process_set, Ranks(ranks), rank));
  }
  for (int64_t dim : request.shape) {
    if (dim < 0) {
      return InvalidArgumentError(
          fmt::format("kiln.hvd: tensor '{}' has a negative dimension", name));
    }
  }
  if (request.dtype == DataType::kBool && request.reduce_op == ReduceOp::kAverage &&
      (request.op == OpType::kAllreduce || request.op == OpType::kReducescatter)) {
    return InvalidArgumentError(fmt::format(
        "kiln.hvd: {} of '{}': bool tensors have no average; use op=Sum (logical or) or op=Min "
        "(logical and)",
        OpTypeName(request.op), name));
  }
  switch (request.op) {
    case OpType::kBroadcast:
      if (request.process_set == 0 && (request.root < 0 || request.root >= size)) {
        return InvalidArgumentError(
            fmt::format("kiln.hvd: broadcast of '{}' from root_rank {}, but ranks are 0 to {}",
                        name, request.root, size - 1));
      }
      if (!std::binary_search(ranks.begin(), ranks.end(), request.root)) {
        return InvalidArgumentError(fmt::format(
            "kiln.hvd: broadcast of '{}' from root_rank {}, which is not in process set {} "
            "(ranks [{}])",
            name, request.root, request.process_set, Ranks(ranks)));
      }
      break;
    case OpType::kAllgather:
    case OpType::kAlltoall:
    case OpType::kReducescatter:
      if (request.shape.empty()) {
        return InvalidArgumentError(fmt::format(
            "kiln.hvd: {} of '{}' needs a tensor with at least one dimension; reshape a scalar "
            "to [1]",
            OpTypeName(request.op), name));
      }
      break;
    default:
      break;
  }
  if (request.op == OpType::kAlltoall) {
    if (static_cast<int>(request.splits.size()) != size) {
      return InvalidArgumentError(fmt::format(
          "kiln.hvd: alltoall of '{}' has {} splits; it needs one per rank of its set ({})", name,
          request.splits.size(), size));
    }
    int64_t rows = 0;
    for (int64_t split : request.splits) {
      if (split < 0) {
        return InvalidArgumentError(
            fmt::format("kiln.hvd: alltoall of '{}' has a negative split", name));
      }
      rows += split;
    }
    if (rows != request.shape[0]) {
      return InvalidArgumentError(fmt::format(
          "kiln.hvd: alltoall of '{}': the splits add up to {} rows, but the tensor has {}", name,
          rows, request.shape[0]));
    }
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Runtime>> Runtime::Start(const Topology& topology, Mesh control,
                                                std::unique_ptr<DataPlane> data,
                                                RuntimeOptions options) {
  UniqueFd wake(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake) return ErrnoError("kiln.hvd: eventfd", errno);
  const bool local = topology.local_size == topology.size;
  KILN_ASSIGN_OR_RETURN(
      ControlChannel channel,
      ControlChannel::Connect(std::move(control), options.shared_memory && local, options.spin));
  std::unique_ptr<Runtime> runtime(
      new Runtime(topology, std::move(channel), std::move(data), options, std::move(wake)));
  if (!runtime->options_.timeline.empty()) {
    KILN_RETURN_IF_ERROR(runtime->StartTimeline(runtime->options_.timeline));
  }
  runtime->thread_ = std::thread([r = runtime.get()] { r->Loop(); });
  return runtime;
}

Runtime::Runtime(const Topology& topology, ControlChannel control, std::unique_ptr<DataPlane> data,
                 RuntimeOptions options, UniqueFd wake)
    : topology_(topology),
      control_(std::move(control)),
      data_(std::move(data)),
      options_(std::move(options)),
      wake_(std::move(wake)),
      cache_(options_.coordinator.cache_capacity),
      yield_every_(YieldEvery(topology.size)) {
  if (topology_.rank == 0) coordinator_.emplace(topology_.size, options_.coordinator);
  std::vector<int> everyone(static_cast<size_t>(topology_.size));
  std::iota(everyone.begin(), everyone.end(), 0);
  sets_[0] = everyone;
  set_planes_[0] = SetPlane{std::move(everyone), topology_.rank, data_.get(), nullptr};
}

Runtime::~Runtime() { Shutdown(); }

void Runtime::Wake() {
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = write(wake_.get(), &one, sizeof(one));
  // After the write: Step() reads the eventfd once it sees this, so it is never left
  // readable with nobody to drain it.
  woken_.store(true, std::memory_order_release);
}

std::shared_ptr<OpHandle> Runtime::Enqueue(TensorEntry entry, bool wake) {
  entry.enqueued = Clock::now();
  std::shared_ptr<OpHandle> handle = entry.handle;
  {
    std::lock_guard lock(mutex_);
    const auto set = sets_.find(entry.request.process_set);
    Status invalid =
        set == sets_.end()
            ? InvalidArgumentError(fmt::format(
                  "kiln.hvd: {} of '{}' in process set {}, which is not added (or was removed); "
                  "add it with hvd.add_process_set() on every rank first",
                  OpTypeName(entry.request.op), entry.request.name, entry.request.process_set))
            : Validate(entry.request, set->second, topology_.rank);
    if (!invalid.ok()) {
      handle->Complete(std::move(invalid));
      return handle;
    }
    if (stopped_ || shutdown_asked_) {
      handle->Complete(stopped_ && !stopped_->ok()
                           ? *stopped_
                           : FailedPreconditionError(
                                 "kiln.hvd has been shut down; call hvd.init() before more ops"));
      return handle;
    }
    queue_.push_back(std::move(entry));
  }
  if (wake) Wake();
  return handle;
}

Status Runtime::Wait(const std::shared_ptr<OpHandle>& handle) {
  if (!handle->Poll()) {
    waiters_.fetch_add(1);
    std::unique_lock drive(drive_mutex_);  // waits out a step of the background thread
    if (!done_ && !handle->Poll()) Step(/*sleep_first=*/false);
    while (!done_ && !handle->Poll()) Step(/*sleep_first=*/true, /*spin=*/true);
    waiters_.fetch_sub(1);
  }
  return handle->Wait();
}

void Runtime::Shutdown() {
  {
    std::lock_guard lock(mutex_);
    shutdown_asked_ = true;
  }
  Wake();
  if (thread_.joinable()) thread_.join();
  timeline_.Stop();
}

Status Runtime::AddProcessSet(int32_t id, std::vector<int> ranks) {
  std::sort(ranks.begin(), ranks.end());
  if (ranks.empty()) return InvalidArgumentError("kiln.hvd: a process set needs at least one rank");
  if (ranks.front() < 0 || ranks.back() >= topology_.size) {
    return InvalidArgumentError(
        fmt::format("kiln.hvd: process set [{}] names a rank outside 0 to {}", Ranks(ranks),
                    topology_.size - 1));
  }
  if (std::adjacent_find(ranks.begin(), ranks.end()) != ranks.end()) {
    return InvalidArgumentError(
        fmt::format("kiln.hvd: process set [{}] names a rank twice", Ranks(ranks)));
  }
  std::lock_guard lock(mutex_);
  if (sets_.count(id)) {
    return AlreadyExistsError(fmt::format("kiln.hvd: process set {} exists already", id));
  }
  sets_[id] = ranks;
  set_changes_.push_back({id, std::move(ranks)});
  return Status::Ok();
}

Status Runtime::RemoveProcessSet(int32_t id) {
  if (id == 0) return InvalidArgumentError("kiln.hvd: the global process set cannot be removed");
  std::lock_guard lock(mutex_);
  if (sets_.erase(id) == 0) {
    return NotFoundError(fmt::format("kiln.hvd: there is no process set {}", id));
  }
  set_changes_.push_back({id, std::nullopt});
  return Status::Ok();
}

std::optional<std::vector<int>> Runtime::ProcessSetRanks(int32_t id) {
  std::lock_guard lock(mutex_);
  const auto set = sets_.find(id);
  if (set == sets_.end()) return std::nullopt;
  return set->second;
}

void Runtime::ApplySetChanges(std::vector<SetChange> changes) {
  for (SetChange& change : changes) {
    if (!change.ranks) {
      if (coordinator_) coordinator_->RemoveProcessSet(change.id);
      set_planes_.erase(change.id);
      continue;
    }
    if (coordinator_) coordinator_->AddProcessSet(change.id, *change.ranks);
    const auto at = std::lower_bound(change.ranks->begin(), change.ranks->end(), topology_.rank);
    const bool member = at != change.ranks->end() && *at == topology_.rank;
    const int index = member ? static_cast<int>(at - change.ranks->begin()) : -1;
    set_planes_[change.id] = SetPlane{std::move(*change.ranks), index, nullptr, nullptr};
  }
}

Result<Runtime::SetPlane*> Runtime::PlaneFor(int32_t id) {
  const auto set = set_planes_.find(id);
  if (set == set_planes_.end()) {
    // Not applied here yet (or removed): this rank submitted nothing in it, so it takes no
    // part; a member always has applied the set before submitting in it.
    static SetPlane outside;
    return &outside;
  }
  SetPlane& plane = set->second;
  if (plane.plane == nullptr && plane.index >= 0) {
    KILN_ASSIGN_OR_RETURN(plane.owned, data_->Subset(plane.ranks));
    plane.plane = plane.owned.get();
  }
  return &plane;
}

RequestList Runtime::TakeQueue() {
  std::deque<TensorEntry> taken;
  RequestList list;
  std::vector<SetChange> changes;
  {
    std::lock_guard lock(mutex_);
    taken.swap(queue_);
    changes.swap(set_changes_);
    if (shutdown_asked_ && !sent_shutdown_) {
      list.shutdown = true;
      sent_shutdown_ = true;
    }
  }
  // Before the requests: one taken with a set's first ops may be in it.
  ApplySetChanges(std::move(changes));
  for (TensorEntry& entry : taken) {
    const Request& request = entry.request;
    if (request.op == OpType::kJoin) {
      if (join_) {
        entry.handle->Complete(FailedPreconditionError("kiln.hvd: join() is already pending"));
        continue;
      }
      list.requests.push_back(request);
      join_ = std::move(entry);
      continue;
    }
    auto key = std::make_pair(request.process_set, request.name);
    if (pending_.count(key)) {
      entry.handle->Complete(InvalidArgumentError(fmt::format(
          "kiln.hvd: a tensor named '{}' is already pending on rank {}; every outstanding op "
          "needs its own name",
          request.name, topology_.rank)));
      continue;
    }
    if (const auto slot = cache_.Find(request)) {
      SetBit(list.cached, *slot);
    } else {
      list.requests.push_back(request);
    }
    pending_.emplace(std::move(key), std::move(entry));
  }
  return list;
}

bool Runtime::ReadPeers(Clock::time_point now) {
  // Over sockets each look is a system call: one for all peers first.
  for (bool more = control_.AnyReadable(); more;) {
    more = false;
    for (int peer = 1; peer < topology_.size; ++peer) {
      if (!control_.Readable(peer)) continue;
      Result<std::string> message = control_.RecvMessage(peer);
      Result<RequestList> list =
          message.ok() ? DecodeRequestList(*message) : Result<RequestList>(message.status());
      if (!list.ok()) {
        Abort(list.status());
        return false;
      }
      coordinator_->Add(peer, *list, now);
      more = true;
    }
  }
  return true;
}

void Runtime::Loop() {
  bool caller_drives = false;
  while (!done_) {
    // Without the drive lock, so that a caller in Wait() may drive meanwhile. While one
    // does or is about to, this thread watches only its wake-up fd (new work from other
    // threads) for a while, instead of waking on every message the caller is about to read
    // itself and then contending with it for the lock (and, over rings, having every
    // message ring a doorbell for it).
    caller_drives = caller_drives || waiters_.load() > 0;
    const Status slept = caller_drives ? SleepOnWake() : Sleep(/*driving=*/false);
    std::unique_lock drive(drive_mutex_, std::try_to_lock);
    caller_drives = !drive.owns_lock();
    if (caller_drives) continue;
    if (!slept.ok()) Abort(slept);
    if (!done_) Step(/*sleep_first=*/false);
  }
}

Status Runtime::SleepOnWake() {
  pollfd wake{wake_.get(), POLLIN, 0};
  const auto pause = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::max(options_.coordinator.cycle_time, std::chrono::microseconds(1000)));
  const timespec timeout{0, static_cast<long>(std::min<int64_t>(pause.count(), 999'999'999))};
  if (ppoll(&wake, 1, &timeout, nullptr) < 0 && errno != EINTR) {
    return ErrnoError("kiln.hvd: ppoll", errno);
  }
  return Status::Ok();
}

Status Runtime::Sleep(bool driving, bool spin) {
  // Until work, a message, or (rank 0) held tensors or the stall check are due.
  timespec wait{1, 0};
  timespec* timeout = coordinator_ ? &wait : nullptr;
  // Published by the driver: this thread may not hold the drive lock.
  const int64_t held_at = held_until_.load(std::memory_order_acquire);
  const std::optional<Clock::time_point> held =
      held_at < 0 ? std::nullopt
                  : std::optional<Clock::time_point>(Clock::time_point(Clock::duration(held_at)));
  if (held) {
    const auto left = std::max(Clock::duration::zero(), *held - Clock::now());
    const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    wait = {static_cast<time_t>(nanos / 1'000'000'000), static_cast<long>(nanos % 1'000'000'000)};
  }
  if (spin && options_.spin.count() > 0) {
    // Over rings a check is a read of memory; over sockets, a system call.
    const int checks = control_.shared() ? 64 : 1;
    const Clock::time_point until =
        std::min(Clock::now() + options_.spin, held.value_or(Clock::time_point::max()));
    for (unsigned round = 1;; ++round) {
      for (int i = 0; i < checks; ++i) {
        if (woken_.load(std::memory_order_acquire) || control_.AnyReadable()) return Status::Ok();
        __builtin_ia32_pause();
      }
      if (Clock::now() >= until) break;
      if (round % yield_every_ == 0 || !control_.shared()) sched_yield();
    }
  }
  if (woken_.load(std::memory_order_acquire)) return Status::Ok();
  return control_.Sleep(wake_.get(), timeout, driving);
}

void Runtime::Step(bool sleep_first, bool spin) {
  if (sleep_first) {
    if (Status slept = Sleep(/*driving=*/true, spin); !slept.ok()) {
      Abort(slept);
      return;
    }
  }
  if (done_) return;
  if (woken_.exchange(false, std::memory_order_acquire)) {
    uint64_t count = 0;
    [[maybe_unused]] const ssize_t drained = read(wake_.get(), &count, sizeof(count));
  }
  control_.TakeDoorbells();
  const Clock::time_point now = Clock::now();
  RequestList mine = TakeQueue();
  if (coordinator_) {
    coordinator_->Add(0, mine, now);
    if (!ReadPeers(now)) return;
    for (const std::string& line : coordinator_->StallWarnings(now)) {
      std::fprintf(stderr,
                   "kiln.hvd: WARNING: a tensor has waited over %lld s for some ranks: %s. "
                   "A rank stopped calling into kiln.hvd, or ranks submit different tensors.\n",
                   static_cast<long long>(options_.coordinator.stall_time.count()), line.c_str());
    }
    ResponseList out;
    out.responses = coordinator_->TakeReady(now);
    const std::optional<Clock::time_point> held = coordinator_->HeldUntil();
    held_until_.store(held ? held->time_since_epoch().count() : -1, std::memory_order_release);
    out.shutdown = coordinator_->AllShutDown();
    if (out.responses.empty() && !out.shutdown) return;
    if (topology_.size > 1) {
      const std::string encoded = EncodeResponseList(out);
      for (int peer = 1; peer < topology_.size; ++peer) {
        if (Status sent = control_.SendMessage(peer, encoded); !sent.ok()) {
          Abort(sent);
          return;
        }
      }
    }
    Run(out);
    return;
  }

  if (!mine.requests.empty() || !mine.cached.empty() || mine.shutdown) {
    if (Status sent = control_.SendMessage(0, EncodeRequestList(mine)); !sent.ok()) {
      Abort(sent);
      return;
    }
  }
  while (!done_ && control_.Readable(0)) {
    Result<std::string> message = control_.RecvMessage(0);
    Result<ResponseList> list =
        message.ok() ? DecodeResponseList(*message) : Result<ResponseList>(message.status());
    if (!list.ok()) {
      Abort(list.status());
      return;
    }
    Run(*list);
  }
}

void Runtime::Run(const ResponseList& list) {
  for (Response response : list.responses) {
    if (Status status = Run(response); !status.ok()) {
      Abort(status);
      return;
    }
  }
  if (list.shutdown) {
    Abort(CancelledError("kiln.hvd was shut down while this op was pending"),
          /*tell_peers=*/false);
    std::lock_guard lock(mutex_);
    stopped_ = Status::Ok();
  }
}

Status Runtime::Run(Response& response) {
  for (size_t i = 0; i < response.names.size(); ++i) {
    const int32_t slot = response.cache_slots[i];
    if (response.names[i].empty()) {
      if (slot < 0 || !cache_.Has(slot)) {
        return InternalError("kiln.hvd: a response named a cache slot this rank does not know");
      }
      response.names[i] = cache_.Name(slot);
    } else if (slot >= 0) {
      const auto entry = pending_.find({response.process_set, response.names[i]});
      cache_.Put(
          slot, response.process_set, response.names[i],
          entry == pending_.end() ? std::nullopt : std::optional<Request>(entry->second.request));
    }
  }
  if (response.kind == Response::Kind::kError) {
    if (response.names.empty()) return FailedPreconditionError(response.error);
    for (const std::string& name : response.names) {
      const auto entry = pending_.find({response.process_set, name});
      if (entry != pending_.end()) Finish(&entry->second, InvalidArgumentError(response.error));
    }
    return Status::Ok();
  }
  KILN_ASSIGN_OR_RETURN(SetPlane * set, PlaneFor(response.process_set));
  if (set->index < 0) return Status::Ok();  // another set's op
  if (response.op == OpType::kJoin) {
    if (join_) {
      join_->handle->last_joined_rank = response.last_joined_rank;
      join_->handle->Complete(Status::Ok());
      join_.reset();
    }
    return Status::Ok();
  }
  std::vector<TensorEntry*> entries;
  for (const std::string& name : response.names) {
    const auto entry = pending_.find({response.process_set, name});
    if (entry == pending_.end() && !(join_ && response.process_set == 0)) {
      return InternalError(
          fmt::format("kiln.hvd: rank {} was told to run '{}', which it never submitted",
                      topology_.rank, name));
    }
    entries.push_back(entry == pending_.end() ? nullptr : &entry->second);
  }
  const Clock::time_point start = Clock::now();
  Status status;
  if (response.op == OpType::kAllreduce) {
    status = RunAllreduce(response, *set, entries);
  } else if (entries[0] != nullptr) {
    status = RunOne(response, *set, *entries[0]);
  }
  const Clock::time_point end = Clock::now();
  if (timeline_.active()) {
    for (const TensorEntry* entry : entries) {
      if (entry == nullptr) continue;
      timeline_.Record(entry->request.name, "NEGOTIATE", entry->enqueued, start);
      timeline_.Record(entry->request.name, PhaseName(response.op), start, end, entries.size());
    }
  }
  for (TensorEntry* entry : entries) {
    if (entry != nullptr) Finish(entry, status);
  }
  return status;
}

Status Runtime::RunAllreduce(const Response& response, const SetPlane& set,
                             std::vector<TensorEntry*>& entries) {
  const size_t element = ElementSize(response.dtype);
  const size_t total = static_cast<size_t>(
      std::accumulate(response.element_counts.begin(), response.element_counts.end(), int64_t{0}));
  const double postscale = response.postscale * (response.reduce_op == ReduceOp::kAverage
                                                     ? 1.0 / static_cast<double>(set.ranks.size())
                                                     : 1.0);
  char* buffer = nullptr;
  const bool in_place = entries.size() == 1 && entries[0] != nullptr;
  if (in_place) {
    TensorEntry& entry = *entries[0];
    buffer = static_cast<char*>(entry.output);
    if (entry.input != entry.output && total > 0) std::memcpy(buffer, entry.input, total * element);
  } else {
    if (fusion_buffer_.size() < total * element) fusion_buffer_.resize(total * element);
    buffer = fusion_buffer_.data();
    size_t offset = 0;
    for (size_t i = 0; i < entries.size(); ++i) {
      const size_t bytes = static_cast<size_t>(response.element_counts[i]) * element;
      if (entries[i] != nullptr) {
        if (bytes > 0) std::memcpy(buffer + offset, entries[i]->input, bytes);
      } else {
        std::memset(buffer + offset, 0, bytes);  // a joined rank contributes zeros
      }
      offset += bytes;
    }
  }
  ScaleBuffer(buffer, total, response.dtype, response.prescale);
  KILN_RETURN_IF_ERROR(set.plane->Allreduce(buffer, total, response.dtype, response.reduce_op));
  ScaleBuffer(buffer, total, response.dtype, postscale);
  if (!in_place) {
    size_t offset = 0;
    for (size_t i = 0; i < entries.size(); ++i) {
      const size_t bytes = static_cast<size_t>(response.element_counts[i]) * element;
      if (entries[i] != nullptr && bytes > 0)
        std::memcpy(entries[i]->output, buffer + offset, bytes);
      offset += bytes;
    }
  }
  return Status::Ok();
}

Status Runtime::RunOne(const Response& response, const SetPlane& set, TensorEntry& entry) {
  const Request& request = entry.request;
  const size_t element = ElementSize(request.dtype);
  // Ranks and sizes within the set from here on.
  DataPlane& data = *set.plane;
  const int n = static_cast<int>(set.ranks.size());
  const int self = set.index;
  const auto rank = static_cast<size_t>(self);
  const int64_t row = RowElements(request.shape);
  const auto row_bytes = static_cast<size_t>(row) * element;
  switch (response.op) {
    case OpType::kBarrier:
      return Status::Ok();
    case OpType::kBroadcast: {
      const size_t bytes = static_cast<size_t>(request.NumElements()) * element;
      if (topology_.rank == response.root && entry.input != entry.output && bytes > 0) {
        std::memcpy(entry.output, entry.input, bytes);
      }
      const auto root = std::lower_bound(set.ranks.begin(), set.ranks.end(), response.root);
      return data.Broadcast(entry.output, bytes, static_cast<int>(root - set.ranks.begin()));
    }
    case OpType::kAllgather: {
      std::vector<size_t> bytes;
      std::vector<int64_t> shape = request.shape;
      shape[0] = 0;
      for (int64_t rows : response.sizes) {
        bytes.push_back(static_cast<size_t>(rows) * row_bytes);
        shape[0] += rows;
      }
      KILN_ASSIGN_OR_RETURN(void* out, entry.allocate_output(shape));
      return data.Allgatherv(entry.input, out, bytes);
    }
    case OpType::kAlltoall: {
      const auto at = [&](int from, int to) {
        return response.sizes[static_cast<size_t>(from * n + to)];
      };
      std::vector<size_t> send_bytes;
      std::vector<size_t> recv_bytes;
      std::vector<int64_t> shape = request.shape;
      shape[0] = 0;
      entry.handle->received_splits.clear();
      for (int peer = 0; peer < n; ++peer) {
        send_bytes.push_back(static_cast<size_t>(at(self, peer)) * row_bytes);
        recv_bytes.push_back(static_cast<size_t>(at(peer, self)) * row_bytes);
        entry.handle->received_splits.push_back(at(peer, self));
        shape[0] += at(peer, self);
      }
      KILN_ASSIGN_OR_RETURN(void* out, entry.allocate_output(shape));
      return data.Alltoallv(entry.input, send_bytes, out, recv_bytes);
    }
    case OpType::kReducescatter: {
      std::vector<size_t> counts;
      for (int64_t rows : response.sizes) counts.push_back(static_cast<size_t>(rows * row));
      const auto total = static_cast<size_t>(request.NumElements());
      if (fusion_buffer_.size() < total * element) fusion_buffer_.resize(total * element);
      if (total > 0) std::memcpy(fusion_buffer_.data(), entry.input, total * element);
      ScaleBuffer(fusion_buffer_.data(), total, request.dtype, response.prescale);
      std::vector<int64_t> shape = request.shape;
      shape[0] = response.sizes[rank];
      KILN_ASSIGN_OR_RETURN(void* out, entry.allocate_output(shape));
      KILN_RETURN_IF_ERROR(data.ReduceScatter(fusion_buffer_.data(), counts, out, request.dtype,
                                              response.reduce_op));
      ScaleBuffer(out, counts[rank], request.dtype,
                  response.postscale * (response.reduce_op == ReduceOp::kAverage ? 1.0 / n : 1.0));
      return Status::Ok();
    }
    default:
      return InternalError(fmt::format("kiln.hvd: no way to run {}", OpTypeName(response.op)));
  }
}

void Runtime::Finish(TensorEntry* entry, Status status) {
  std::shared_ptr<OpHandle> handle = entry->handle;
  pending_.erase({entry->request.process_set, entry->request.name});
  handle->Complete(std::move(status));
}

void Runtime::Abort(const Status& why, bool tell_peers) {
  done_ = true;
  if (coordinator_ && tell_peers) {
    ResponseList abort;
    abort.shutdown = true;
    Response error;
    error.kind = Response::Kind::kError;
    error.error = why.message();
    abort.responses.push_back(error);
    const std::string encoded = EncodeResponseList(abort);
    for (int peer = 1; peer < topology_.size; ++peer)
      control_.SendMessage(peer, encoded).IgnoreError();
  }
  std::deque<TensorEntry> queued;
  {
    std::lock_guard lock(mutex_);
    stopped_ = why;
    queued.swap(queue_);
  }
  for (auto& [name, entry] : pending_) entry.handle->Complete(why);
  pending_.clear();
  for (TensorEntry& entry : queued) entry.handle->Complete(why);
  if (join_) join_->handle->Complete(why);
  join_.reset();
}

}  // namespace kiln::collective
