#include "collective/control_channel.h"

#include <fmt/format.h>
#include <sched.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

#include "collective/shared_segment.h"
#include "collective/spin.h"

namespace kiln::collective {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kMagic = 0x6b696c6e2d63746cULL;  // "kiln-ctl"
constexpr size_t kLine = 64;
constexpr size_t kRingBytes = 1 << 20;

struct alignas(kLine) Header {
  uint64_t magic;
  int32_t size;
};

}  // namespace

struct alignas(kLine) ControlChannel::Ring {
  alignas(kLine) std::atomic<uint64_t> tail;      // bytes ever written; the writer's
  alignas(kLine) std::atomic<uint64_t> head;      // bytes ever read; the reader's
  alignas(kLine) std::atomic<uint32_t> sleepers;  // reader threads about to sleep in poll
  std::atomic<uint64_t> rung;                     // doorbells sent, ever
  alignas(kLine) char data[kRingBytes];
};
static_assert(std::atomic<uint64_t>::is_always_lock_free);

// Two rings per peer of rank 0: 2(p - 1) carries p's messages up, 2(p - 1) + 1 rank 0's down.
size_t ControlChannel::SegmentBytes(int size) {
  return sizeof(Header) + 2 * static_cast<size_t>(size - 1) * sizeof(Ring);
}

ControlChannel::ControlChannel(Mesh mesh, std::unique_ptr<SharedSegment> segment,
                               std::chrono::microseconds spin)
    : mesh_(std::move(mesh)),
      segment_(std::move(segment)),
      spin_(spin),
      gone_(new std::atomic<bool>[static_cast<size_t>(mesh_.size())]),
      drained_(static_cast<size_t>(mesh_.size()), 0) {
  for (int peer = 0; peer < mesh_.size(); ++peer) {
    gone_[static_cast<size_t>(peer)] = false;
    // The star's edges only, whatever else the mesh holds.
    const bool edge = (mesh_.rank() == 0) != (peer == 0);
    if (edge && mesh_.fd(peer) >= 0) peers_.push_back(peer);
  }
}

ControlChannel::ControlChannel() = default;
ControlChannel::ControlChannel(ControlChannel&&) noexcept = default;
ControlChannel& ControlChannel::operator=(ControlChannel&&) noexcept = default;
ControlChannel::~ControlChannel() = default;

Result<ControlChannel> ControlChannel::Connect(Mesh mesh, bool shared_memory,
                                               std::chrono::microseconds spin) {
  const int rank = mesh.rank();
  const int size = mesh.size();
  if (size <= 1) return ControlChannel(std::move(mesh), nullptr, spin);
  std::unique_ptr<SharedSegment> segment;
  std::string why;
  if (rank == 0) {
    if (shared_memory) {
      Result<std::unique_ptr<SharedSegment>> created =
          SharedSegment::Create("control", SegmentBytes(size));
      if (created.ok()) {
        segment = std::move(*created);
        auto* header = reinterpret_cast<Header*>(segment->base());
        for (size_t i = 0; i < 2 * static_cast<size_t>(size - 1); ++i) {
          new (segment->base() + sizeof(Header) + i * sizeof(Ring)) Ring;
        }
        header->size = size;
        std::atomic_thread_fence(std::memory_order_release);
        header->magic = kMagic;
      } else {
        why = created.status().message();
      }
    }
    // However the handshake ends, the name goes: every peer has the segment mapped by then,
    // or never will.
    const std::string name = segment != nullptr ? segment->name() : "";
    struct Unlink {
      const std::string& name;
      ~Unlink() {
        if (!name.empty()) SharedSegment::Unlink(name);
      }
    } unlink{name};
    for (int peer = 1; peer < size; ++peer) KILN_RETURN_IF_ERROR(mesh.SendMessage(peer, name));
    bool everyone = segment != nullptr;
    for (int peer = 1; peer < size; ++peer) {
      KILN_ASSIGN_OR_RETURN(const std::string answer, mesh.RecvMessage(peer));
      everyone = everyone && answer.empty();
    }
    for (int peer = 1; peer < size; ++peer) {
      KILN_RETURN_IF_ERROR(mesh.SendMessage(peer, everyone ? "1" : "0"));
    }
    if (!everyone) segment.reset();
  } else {
    KILN_ASSIGN_OR_RETURN(const std::string name, mesh.RecvMessage(0));
    if (!name.empty()) {
      Result<std::unique_ptr<SharedSegment>> opened = SharedSegment::Open(name, SegmentBytes(size));
      if (!opened.ok()) {
        why = opened.status().message();
      } else if (const auto* header = reinterpret_cast<const Header*>((*opened)->base());
                 header->magic != kMagic || header->size != size) {
        why = fmt::format("/dev/shm{} is not a control segment of {} ranks", name, size);
      } else {
        segment = std::move(*opened);
      }
    }
    KILN_RETURN_IF_ERROR(mesh.SendMessage(0, why.empty() ? "" : "x"));
    KILN_ASSIGN_OR_RETURN(const std::string verdict, mesh.RecvMessage(0));
    if (verdict != "1") segment.reset();
  }
  if (!why.empty()) {
    std::fprintf(stderr, "kiln.hvd: rank %d: control messages stay on sockets: %s\n", rank,
                 why.c_str());
  }
  return ControlChannel(std::move(mesh), std::move(segment), spin);
}

ControlChannel::Ring& ControlChannel::Inbound(int peer) const {
  const int leaf = rank() == 0 ? peer : rank();
  const size_t index = 2 * static_cast<size_t>(leaf - 1) + (rank() == 0 ? 0 : 1);
  return *reinterpret_cast<Ring*>(segment_->base() + sizeof(Header) + index * sizeof(Ring));
}

ControlChannel::Ring& ControlChannel::Outbound(int peer) const {
  const int leaf = rank() == 0 ? peer : rank();
  const size_t index = 2 * static_cast<size_t>(leaf - 1) + (rank() == 0 ? 1 : 0);
  return *reinterpret_cast<Ring*>(segment_->base() + sizeof(Header) + index * sizeof(Ring));
}

Status ControlChannel::Gone(int peer) const {
  return UnavailableError(fmt::format(
      "collective: rank {} lost its connection to rank {} (that rank exited or crashed)", rank(),
      peer));
}

bool ControlChannel::Drain(int peer) {
  std::atomic<bool>& gone = gone_[static_cast<size_t>(peer)];
  char bells[64];
  while (!gone.load(std::memory_order_relaxed)) {
    const ssize_t n = recv(mesh_.fd(peer), bells, sizeof(bells), MSG_DONTWAIT);
    if (n > 0) {
      drained_[static_cast<size_t>(peer)] += static_cast<uint64_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0 && errno == EINTR) continue;
    gone.store(true);
  }
  return gone.load();
}

void ControlChannel::TakeDoorbell(int peer) {
  // Without a system call when no doorbell was rung since the last drain: the common case,
  // as one is rung only for a reader going to sleep.
  if (Inbound(peer).rung.load(std::memory_order_seq_cst) != drained_[static_cast<size_t>(peer)]) {
    Drain(peer);
  }
}

void ControlChannel::TakeDoorbells() {
  if (!shared()) return;
  for (int peer : peers_) TakeDoorbell(peer);
}

Status ControlChannel::WriteRing(int peer, const char* data, size_t bytes) {
  Ring& ring = Outbound(peer);
  uint64_t tail = ring.tail.load(std::memory_order_relaxed);
  while (bytes > 0) {
    const uint64_t used = tail - ring.head.load(std::memory_order_acquire);
    if (used == kRingBytes) {
      KILN_RETURN_IF_ERROR(WaitForSpace(peer, ring, tail));
      continue;
    }
    const size_t n = std::min<size_t>(bytes, kRingBytes - used);
    const size_t at = tail % kRingBytes;
    const size_t first = std::min(n, kRingBytes - at);
    std::memcpy(ring.data + at, data, first);
    std::memcpy(ring.data, data + first, n - first);
    tail += n;
    data += n;
    bytes -= n;
    // Sequentially consistent with the reader's count-then-check: either it sees the bytes
    // or this sees it going to sleep, and rings.
    ring.tail.store(tail, std::memory_order_seq_cst);
    if (ring.sleepers.load(std::memory_order_seq_cst) > 0) {
      const char bell = 0;
      // Counted before it is sent: whoever the byte wakes finds it counted, and drains it.
      // A full socket already holds a doorbell: nothing lost when this one does not fit.
      ring.rung.fetch_add(1, std::memory_order_seq_cst);
      if (send(mesh_.fd(peer), &bell, 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1) {
        ring.rung.fetch_sub(1, std::memory_order_seq_cst);
      }
    }
  }
  return Status::Ok();
}

Status ControlChannel::WaitForSpace(int peer, const Ring& ring, uint64_t tail) {
  const auto freed = [&] { return tail - ring.head.load(std::memory_order_acquire) < kRingBytes; };
  if (SpinUntil(spin_, YieldEvery(size()), freed)) return Status::Ok();
  // The reader is behind, rarely for long: nap, and watch its socket for its end.
  while (!freed()) {
    pollfd end{mesh_.fd(peer), POLLRDHUP, 0};
    if (poll(&end, 1, 1) > 0 && (end.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
      gone_[static_cast<size_t>(peer)] = true;
      return Gone(peer);
    }
  }
  return Status::Ok();
}

Status ControlChannel::WaitForData(int peer, Ring& ring, uint64_t head) {
  const auto arrived = [&] { return ring.tail.load(std::memory_order_acquire) != head; };
  if (SpinUntil(spin_, YieldEvery(size()), arrived)) return Status::Ok();
  while (true) {
    ring.sleepers.fetch_add(1, std::memory_order_seq_cst);
    if (ring.tail.load(std::memory_order_seq_cst) == head) {
      pollfd bell{mesh_.fd(peer), POLLIN, 0};
      poll(&bell, 1, 100);
    }
    ring.sleepers.fetch_sub(1, std::memory_order_seq_cst);
    if (arrived()) return Status::Ok();
    if (Drain(peer)) return Gone(peer);
  }
}

Status ControlChannel::ReadRing(int peer, char* data, size_t bytes) {
  Ring& ring = Inbound(peer);
  uint64_t head = ring.head.load(std::memory_order_relaxed);
  while (bytes > 0) {
    const uint64_t ready = ring.tail.load(std::memory_order_acquire) - head;
    if (ready == 0) {
      KILN_RETURN_IF_ERROR(WaitForData(peer, ring, head));
      continue;
    }
    const size_t n = std::min<size_t>(bytes, ready);
    const size_t at = head % kRingBytes;
    const size_t first = std::min(n, kRingBytes - at);
    std::memcpy(data, ring.data + at, first);
    std::memcpy(data + first, ring.data, n - first);
    head += n;
    data += n;
    bytes -= n;
    ring.head.store(head, std::memory_order_release);
  }
  return Status::Ok();
}

Status ControlChannel::SendMessage(int peer, std::string_view payload) {
  if (!shared()) return mesh_.SendMessage(peer, payload);
  if (gone_[static_cast<size_t>(peer)]) return Gone(peer);
  // One write: a reader sees the length and a small message's bytes at once.
  const std::string framed = FrameMessage(payload);
  return WriteRing(peer, framed.data(), framed.size());
}

Result<std::string> ControlChannel::RecvMessage(int peer) {
  if (!shared()) return mesh_.RecvMessage(peer);
  TakeDoorbell(peer);
  uint32_t length = 0;
  KILN_RETURN_IF_ERROR(ReadRing(peer, reinterpret_cast<char*>(&length), sizeof(length)));
  std::string payload(length, '\0');
  KILN_RETURN_IF_ERROR(ReadRing(peer, payload.data(), length));
  return payload;
}

bool ControlChannel::Readable(int peer) {
  if (!shared()) {
    pollfd socket{mesh_.fd(peer), POLLIN, 0};
    return poll(&socket, 1, 0) > 0;
  }
  const Ring& ring = Inbound(peer);
  return ring.tail.load(std::memory_order_acquire) != ring.head.load(std::memory_order_relaxed) ||
         gone_[static_cast<size_t>(peer)].load(std::memory_order_relaxed);
}

bool ControlChannel::AnyReadable() {
  if (!shared()) {
    std::vector<pollfd> sockets;
    for (int peer : peers_) sockets.push_back({mesh_.fd(peer), POLLIN, 0});
    return !sockets.empty() && poll(sockets.data(), sockets.size(), 0) > 0;
  }
  return std::any_of(peers_.begin(), peers_.end(), [this](int peer) { return Readable(peer); });
}

Status ControlChannel::Sleep(int wake_fd, const timespec* timeout, bool reader) {
  std::vector<pollfd> fds{{wake_fd, POLLIN, 0}};
  for (int peer : peers_) fds.push_back({mesh_.fd(peer), POLLIN | POLLRDHUP, 0});
  if (shared()) {
    for (int peer : peers_) Inbound(peer).sleepers.fetch_add(1, std::memory_order_seq_cst);
    // Orders the counts before the look at the rings below, as the writer orders its bytes
    // before its look at the count.
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
  const bool waiting = shared() && AnyReadable();
  const int polled = waiting ? 0 : ppoll(fds.data(), fds.size(), timeout, nullptr);
  const int error = errno;
  if (shared()) {
    for (size_t i = 0; i < peers_.size(); ++i) {
      Inbound(peers_[i]).sleepers.fetch_sub(1, std::memory_order_seq_cst);
      const short events = fds[i + 1].revents;
      if ((events & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
        gone_[static_cast<size_t>(peers_[i])] = true;
      } else if (reader && events != 0) {
        Drain(peers_[i]);
      }
    }
  }
  if (polled < 0 && error != EINTR) return ErrnoError("kiln.hvd: ppoll", error);
  return Status::Ok();
}

}  // namespace kiln::collective
