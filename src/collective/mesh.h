#pragma once

// Sockets between the ranks of one job. A Mesh holds, for one rank, a connected stream
// socket to each peer it talks to: all of them (the data plane's full mesh) or, on a star,
// rank 0 alone (rank 0 then holds one to every rank: the control plane). Sockets are
// non-blocking with TCP_NODELAY; waiting happens in poll(), so a rank with nothing to do
// sleeps in the kernel instead of spinning on a core the training thread needs.

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace kiln::collective {

class Mesh {
 public:
  Mesh() = default;
  Mesh(int rank, int size, std::vector<UniqueFd> peers);

  // How long a blocked send or receive polls before it sleeps (RuntimeOptions::spin).
  void set_spin(std::chrono::microseconds spin) { spin_ = spin; }

  int rank() const { return rank_; }
  int size() const { return size_; }
  // A mesh over `members` (sorted ranks, this one among them) whose sockets duplicate this
  // one's: rank i of it is members[i].
  Result<Mesh> Subset(const std::vector<int>& members) const;
  // The socket to `peer`, or -1 when this mesh has none (a star's leaves, or self).
  int fd(int peer) const { return peers_[static_cast<size_t>(peer)].get(); }

  Status Send(int peer, const void* data, size_t bytes);
  Status Recv(int peer, void* data, size_t bytes);
  // Sends to `to` while receiving from `from`, so a ring step cannot deadlock on full
  // socket buffers.
  Status SendRecv(int to, const void* send, size_t send_bytes, int from, void* recv,
                  size_t recv_bytes);

  // A length-prefixed message (32-bit length).
  Status SendMessage(int peer, std::string_view payload);
  Result<std::string> RecvMessage(int peer);

 private:
  Status PeerClosed(int peer) const;

  int rank_ = 0;
  int size_ = 1;
  std::vector<UniqueFd> peers_;
  std::vector<int> job_ranks_;  // a subset's: the job's rank of each of its ranks, for errors
  std::chrono::microseconds spin_{0};
};

// A message as SendMessage puts it on the wire: its 32-bit length, then its bytes.
std::string FrameMessage(std::string_view payload);

// Meshes for `size` ranks that are threads of this process, over socketpairs: the same
// code paths as TCP between processes. Element r belongs to rank r.
Result<std::vector<Mesh>> LocalMeshes(int size);

struct Connections {
  Mesh control;  // star around rank 0
  Mesh data;     // full mesh; empty when not asked for
};

struct RendezvousOptions {
  std::string host;  // where rank 0 listens and the others connect
  int port = 0;
  bool data_mesh = true;
  std::chrono::milliseconds timeout{std::chrono::seconds(120)};
  // Rank 0's listening socket when it bound one already (an ephemeral port it has told the
  // others of); otherwise rank 0 binds host:port itself.
  UniqueFd listener;
};

// Connects `size` ranks over TCP. Each rank but 0 connects to rank 0, which learns every
// rank's address from its connection and hands out the table; then the data mesh is built
// (rank j connects to every i < j). Errors name the address and the ranks that never came.
Result<Connections> ConnectRanks(int rank, int size, RendezvousOptions options);

// A TCP socket listening on host:port (port 0 picks one), and the port it got.
Result<std::pair<UniqueFd, int>> Listen(const std::string& host, int port);

}  // namespace kiln::collective
