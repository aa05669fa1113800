#pragma once

// The control star's messages (requests up to rank 0, responses down), over the star's
// sockets or, when every rank is on this machine, over rings in shared memory.
//
// A socket round trip costs 13 us or more on these virtual machines, several times a small
// allreduce; a ring costs two cache-line transfers. With rings the sockets stay, for two
// things memory cannot do: a rank asleep in poll() is woken by a byte on its socket (a
// doorbell, sent only when the reader has said it is going to sleep), and a rank that exits
// closes its socket, which ends a reader's or writer's wait with the error a socket gives.
//
// Each (rank 0, peer) pair has two single-producer single-consumer byte rings, one each
// way. A message is a 32-bit length and the bytes; one larger than the free space streams
// through as the reader frees it.

#include <poll.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "collective/mesh.h"
#include "common/result.h"

namespace kiln::collective {

class SharedSegment;

class ControlChannel {
 public:
  // Collective over the star `mesh`: rank 0 makes the rings when `shared_memory` is true
  // (rank 0's value decides) and keeps them only when every peer mapped them; otherwise
  // messages stay on the sockets, after each rank that could not has said why on stderr.
  static Result<ControlChannel> Connect(Mesh mesh, bool shared_memory,
                                        std::chrono::microseconds spin);
  ControlChannel();
  ControlChannel(ControlChannel&&) noexcept;
  ControlChannel& operator=(ControlChannel&&) noexcept;
  ~ControlChannel();

  bool shared() const { return segment_ != nullptr; }
  int rank() const { return mesh_.rank(); }
  int size() const { return mesh_.size(); }

  Status SendMessage(int peer, std::string_view payload);
  // Blocks until the whole message is in; an error once the peer has gone.
  Result<std::string> RecvMessage(int peer);

  // Whether a message from `peer` has begun to arrive, or the peer has gone (RecvMessage
  // then says so). With rings a read of memory, no system call.
  bool Readable(int peer);
  bool AnyReadable();

  // Takes the doorbells rung for this rank off its sockets, without a system call when none
  // was. For the reader (see Sleep), before it looks for messages: a thread woken by a
  // doorbell that it may not take leaves it for the reader, and sleeps only on its wake fd
  // meanwhile, or its ppoll would return at once, again and again.
  void TakeDoorbells();

  // Sleeps in ppoll() on `wake_fd` and the peers' sockets until one is readable, a message
  // is waiting in a ring, or `timeout` (null: none). Safe from several threads at once, but
  // only the thread that reads messages (`reader`) may take doorbells off the sockets:
  // another could take the doorbell meant for a reader between its last look at the rings
  // and its ppoll, and leave it asleep with a message waiting.
  Status Sleep(int wake_fd, const timespec* timeout, bool reader);

 private:
  struct Ring;
  static size_t SegmentBytes(int size);
  ControlChannel(Mesh mesh, std::unique_ptr<SharedSegment> segment, std::chrono::microseconds spin);
  Ring& Inbound(int peer) const;
  Ring& Outbound(int peer) const;
  // Takes the doorbells off `peer`'s socket, noting its end; true when the peer has gone.
  // Only the reader, right before it looks at the ring: a doorbell is sent after the bytes
  // it rings for, so the look sees them.
  bool Drain(int peer);
  void TakeDoorbell(int peer);
  Status Gone(int peer) const;
  Status WaitForSpace(int peer, const Ring& ring, uint64_t tail);
  Status WaitForData(int peer, Ring& ring, uint64_t head);
  Status WriteRing(int peer, const char* data, size_t bytes);
  Status ReadRing(int peer, char* data, size_t bytes);

  Mesh mesh_;
  std::unique_ptr<SharedSegment> segment_;
  std::chrono::microseconds spin_{0};
  std::vector<int> peers_;  // those this rank has a socket to
  // A peer whose socket ended; touched by whichever thread drains it.
  std::unique_ptr<std::atomic<bool>[]> gone_;
  std::vector<uint64_t> drained_;  // doorbells taken off each peer's socket, by the reader
};

}  // namespace kiln::collective
