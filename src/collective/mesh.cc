#include "collective/mesh.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace kiln::collective {
namespace {

using Clock = std::chrono::steady_clock;

Status SetUp(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return ErrnoError("collective: fcntl(O_NONBLOCK)", errno);
  }
  const int one = 1;
  // Socketpairs are not TCP; the option is refused there and does not matter.
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return Status::Ok();
}

// Waits for any of `fds`: polling for up to `spin` first (the peer is usually about to
// answer, and a wake-up from sleep costs more than that on a virtual machine), then asleep.
Status WaitForAny(pollfd* fds, nfds_t count, std::chrono::microseconds spin) {
  if (spin.count() > 0) {
    const auto until = Clock::now() + spin;
    do {
      if (poll(fds, count, 0) != 0) return Status::Ok();
      sched_yield();
    } while (Clock::now() < until);
  }
  while (poll(fds, count, -1) < 0) {
    if (errno != EINTR) return ErrnoError("collective: poll", errno);
  }
  return Status::Ok();
}

int MillisLeft(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// Blocking helpers for the rendezvous, before sockets turn non-blocking.
bool WriteAll(int fd, const void* data, size_t bytes) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = send(fd, p, bytes, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    bytes -= static_cast<size_t>(n);
  }
  return true;
}

bool ReadAll(int fd, void* data, size_t bytes, Clock::time_point deadline) {
  char* p = static_cast<char*>(data);
  while (bytes > 0) {
    pollfd w{fd, POLLIN, 0};
    const int ready = poll(&w, 1, MillisLeft(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    const ssize_t n = recv(fd, p, bytes, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    bytes -= static_cast<size_t>(n);
  }
  return true;
}

Result<sockaddr_in> Resolve(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc != 0 || found == nullptr) {
    return InvalidArgumentError(
        fmt::format("collective: cannot resolve the rendezvous host '{}': {} (set MASTER_ADDR or "
                    "HOROVOD_GLOO_RENDEZVOUS_ADDR to an address every rank can reach)",
                    host, gai_strerror(rc)));
  }
  sockaddr_in address = *reinterpret_cast<sockaddr_in*>(found->ai_addr);
  freeaddrinfo(found);
  address.sin_port = htons(static_cast<uint16_t>(port));
  return address;
}

// Connects, retrying while the listener is not up yet.
Result<UniqueFd> ConnectWithRetry(const sockaddr_in& address, Clock::time_point deadline,
                                  std::string_view what) {
  auto pause = std::chrono::milliseconds(1);
  while (true) {
    UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return ErrnoError("collective: socket", errno);
    if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0) {
      return fd;
    }
    const int error = errno;
    if (Clock::now() + pause >= deadline) {
      char text[INET_ADDRSTRLEN] = {};
      inet_ntop(AF_INET, &address.sin_addr, text, sizeof(text));
      return UnavailableError(fmt::format("collective: could not connect to {} at {}:{}: {}", what,
                                          text, ntohs(address.sin_port), std::strerror(error)));
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(100));
  }
}

Result<UniqueFd> AcceptBefore(int listener, Clock::time_point deadline) {
  while (true) {
    pollfd p{listener, POLLIN, 0};
    const int ready = poll(&p, 1, MillisLeft(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return ErrnoError("collective: poll", errno);
    if (ready == 0) return DeadlineExceededError("timed out");
    UniqueFd fd(accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    if (fd) return fd;
    if (errno != EINTR && errno != ECONNABORTED) return ErrnoError("collective: accept", errno);
  }
}

struct Hello {
  int32_t rank = 0;
  int32_t data_port = 0;
};

std::string MissingRanks(const std::vector<UniqueFd>& peers, int self) {
  std::vector<int> missing;
  for (size_t r = 0; r < peers.size(); ++r) {
    if (static_cast<int>(r) != self && !peers[r]) missing.push_back(static_cast<int>(r));
  }
  return fmt::format("{}", fmt::join(missing, ", "));
}

}  // namespace

Mesh::Mesh(int rank, int size, std::vector<UniqueFd> peers)
    : rank_(rank), size_(size), peers_(std::move(peers)) {}

Result<Mesh> Mesh::Subset(const std::vector<int>& members) const {
  std::vector<UniqueFd> peers(members.size());
  int rank = -1;
  for (size_t i = 0; i < members.size(); ++i) {
    if (members[i] == rank_) {
      rank = static_cast<int>(i);
      continue;
    }
    const int fd = peers_[static_cast<size_t>(members[i])].get();
    if (fd < 0) continue;
    peers[i] = UniqueFd(fcntl(fd, F_DUPFD_CLOEXEC, 0));
    if (!peers[i]) return ErrnoError("collective: duplicating a socket", errno);
  }
  if (rank < 0) {
    return InvalidArgumentError(
        fmt::format("collective: rank {} is not among the ranks of its subset", rank_));
  }
  Mesh subset(rank, static_cast<int>(members.size()), std::move(peers));
  subset.spin_ = spin_;
  for (int member : members) {
    subset.job_ranks_.push_back(job_ranks_.empty() ? member
                                                   : job_ranks_[static_cast<size_t>(member)]);
  }
  return subset;
}

Status Mesh::PeerClosed(int peer) const {
  return UnavailableError(fmt::format(
      "collective: rank {} lost its connection to rank {} (that rank exited or crashed)",
      job_ranks_.empty() ? rank_ : job_ranks_[static_cast<size_t>(rank_)],
      job_ranks_.empty() ? peer : job_ranks_[static_cast<size_t>(peer)]));
}

Status Mesh::Send(int peer, const void* data, size_t bytes) {
  const int fd = this->fd(peer);
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = send(fd, p, bytes, MSG_NOSIGNAL);
    if (n > 0) {
      p += n;
      bytes -= static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      pollfd wait{fd, POLLOUT, 0};
      KILN_RETURN_IF_ERROR(WaitForAny(&wait, 1, spin_));
    } else {
      return PeerClosed(peer);
    }
  }
  return Status::Ok();
}

Status Mesh::Recv(int peer, void* data, size_t bytes) {
  const int fd = this->fd(peer);
  char* p = static_cast<char*>(data);
  while (bytes > 0) {
    const ssize_t n = recv(fd, p, bytes, 0);
    if (n > 0) {
      p += n;
      bytes -= static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      pollfd wait{fd, POLLIN, 0};
      KILN_RETURN_IF_ERROR(WaitForAny(&wait, 1, spin_));
    } else {
      return PeerClosed(peer);
    }
  }
  return Status::Ok();
}

Status Mesh::SendRecv(int to, const void* send_data, size_t send_bytes, int from, void* recv_data,
                      size_t recv_bytes) {
  const char* out = static_cast<const char*>(send_data);
  char* in = static_cast<char*>(recv_data);
  const int out_fd = fd(to);
  const int in_fd = fd(from);
  while (send_bytes > 0 || recv_bytes > 0) {
    if (send_bytes > 0) {
      const ssize_t n = ::send(out_fd, out, send_bytes, MSG_NOSIGNAL);
      if (n > 0) {
        out += n;
        send_bytes -= static_cast<size_t>(n);
      } else if (!(n < 0 && (errno == EAGAIN || errno == EINTR))) {
        return PeerClosed(to);
      }
    }
    if (recv_bytes > 0) {
      const ssize_t n = recv(in_fd, in, recv_bytes, 0);
      if (n > 0) {
        in += n;
        recv_bytes -= static_cast<size_t>(n);
      } else if (!(n < 0 && (errno == EAGAIN || errno == EINTR))) {
        return PeerClosed(from);
      }
    }
    if (send_bytes == 0 && recv_bytes == 0) break;
    pollfd waits[2];
    nfds_t count = 0;
    if (send_bytes > 0) waits[count++] = {out_fd, POLLOUT, 0};
    if (recv_bytes > 0) waits[count++] = {in_fd, POLLIN, 0};
    KILN_RETURN_IF_ERROR(WaitForAny(waits, count, spin_));
  }
  return Status::Ok();
}

std::string FrameMessage(std::string_view payload) {
  std::string framed(sizeof(uint32_t) + payload.size(), '\0');
  const auto length = static_cast<uint32_t>(payload.size());
  std::memcpy(framed.data(), &length, sizeof(length));
  std::memcpy(framed.data() + sizeof(length), payload.data(), payload.size());
  return framed;
}

Status Mesh::SendMessage(int peer, std::string_view payload) {
  // One buffer, one send: with TCP_NODELAY two sends would be two segments.
  const std::string framed = FrameMessage(payload);
  return Send(peer, framed.data(), framed.size());
}

Result<std::string> Mesh::RecvMessage(int peer) {
  uint32_t length = 0;
  KILN_RETURN_IF_ERROR(Recv(peer, &length, sizeof(length)));
  std::string payload(length, '\0');
  KILN_RETURN_IF_ERROR(Recv(peer, payload.data(), length));
  return payload;
}

Result<std::vector<Mesh>> LocalMeshes(int size) {
  std::vector<std::vector<UniqueFd>> peers(static_cast<size_t>(size));
  for (auto& row : peers) row.resize(static_cast<size_t>(size));
  for (int i = 0; i < size; ++i) {
    for (int j = i + 1; j < size; ++j) {
      int pair[2];
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        return ErrnoError("collective: socketpair", errno);
      }
      peers[static_cast<size_t>(i)][static_cast<size_t>(j)] = UniqueFd(pair[0]);
      peers[static_cast<size_t>(j)][static_cast<size_t>(i)] = UniqueFd(pair[1]);
      KILN_RETURN_IF_ERROR(SetUp(pair[0]));
      KILN_RETURN_IF_ERROR(SetUp(pair[1]));
    }
  }
  std::vector<Mesh> meshes;
  for (int r = 0; r < size; ++r)
    meshes.emplace_back(r, size, std::move(peers[static_cast<size_t>(r)]));
  return meshes;
}

Result<std::pair<UniqueFd, int>> Listen(const std::string& host, int port) {
  KILN_ASSIGN_OR_RETURN(sockaddr_in address, Resolve(host, port));
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoError("collective: socket", errno);
  const int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    return UnavailableError(fmt::format(
        "collective: rank 0 cannot listen on {}:{}: {} (another job, or torch.distributed in "
        "the same script, holds the port; set HOROVOD_GLOO_RENDEZVOUS_PORT to a free one)",
        host, port, std::strerror(errno)));
  }
  if (listen(fd.get(), 128) != 0) return ErrnoError("collective: listen", errno);
  socklen_t length = sizeof(address);
  getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length);
  return std::pair<UniqueFd, int>(std::move(fd), ntohs(address.sin_port));
}

Result<Connections> ConnectRanks(int rank, int size, RendezvousOptions options) {
  const auto deadline = Clock::now() + options.timeout;
  const auto index = [](int r) { return static_cast<size_t>(r); };
  std::vector<UniqueFd> control(index(size));
  std::vector<UniqueFd> data(index(size));
  if (size == 1) return Connections{Mesh(0, 1, std::move(control)), Mesh(0, 1, std::move(data))};

  if (rank == 0) {
    UniqueFd listener = std::move(options.listener);
    if (!listener) {
      KILN_ASSIGN_OR_RETURN(auto bound, Listen(options.host, options.port));
      listener = std::move(bound.first);
    }
    // 1. every rank says hello on its control connection; its address comes from the socket.
    std::vector<std::pair<uint32_t, int32_t>> table(index(size));  // (IPv4, data port)
    for (int arrived = 1; arrived < size; ++arrived) {
      auto accepted = AcceptBefore(listener.get(), deadline);
      if (!accepted.ok()) {
        return DeadlineExceededError(fmt::format(
            "collective: rank 0 waited {} s at {}:{} and ranks {} never connected (did every "
            "rank call init()?)",
            options.timeout.count() / 1000, options.host, options.port, MissingRanks(control, 0)));
      }
      Hello hello;
      if (!ReadAll(accepted->get(), &hello, sizeof(hello), deadline) || hello.rank <= 0 ||
          hello.rank >= size || control[index(hello.rank)]) {
        return DataLossError(fmt::format(
            "collective: a bad hello on the rendezvous port {} (two jobs sharing a port?)",
            options.port));
      }
      sockaddr_in peer{};
      socklen_t length = sizeof(peer);
      getpeername(accepted->get(), reinterpret_cast<sockaddr*>(&peer), &length);
      table[index(hello.rank)] = {peer.sin_addr.s_addr, hello.data_port};
      control[index(hello.rank)] = std::move(accepted).value();
    }
    // 2. the table goes to everyone.
    for (int r = 1; r < size; ++r) {
      if (!WriteAll(control[index(r)].get(), table.data(), table.size() * sizeof(table[0]))) {
        return UnavailableError(fmt::format("collective: rank {} left during rendezvous", r));
      }
    }
    // 3. the data mesh: every other rank connects to rank 0's listener once more.
    if (options.data_mesh) {
      for (int arrived = 1; arrived < size; ++arrived) {
        auto accepted = AcceptBefore(listener.get(), deadline);
        Hello hello;
        if (!accepted.ok() || !ReadAll(accepted->get(), &hello, sizeof(hello), deadline) ||
            hello.rank <= 0 || hello.rank >= size || data[index(hello.rank)]) {
          return UnavailableError("collective: the data connections to rank 0 did not complete");
        }
        data[index(hello.rank)] = std::move(accepted).value();
      }
    }
  } else {
    UniqueFd data_listener;
    int data_port = 0;
    if (options.data_mesh) {
      KILN_ASSIGN_OR_RETURN(auto bound, Listen("0.0.0.0", 0));
      data_listener = std::move(bound.first);
      data_port = bound.second;
    }
    KILN_ASSIGN_OR_RETURN(const sockaddr_in root, Resolve(options.host, options.port));
    KILN_ASSIGN_OR_RETURN(control[0], ConnectWithRetry(root, deadline, "rank 0"));
    const Hello hello{rank, data_port};
    std::vector<std::pair<uint32_t, int32_t>> table(index(size));
    if (!WriteAll(control[0].get(), &hello, sizeof(hello)) ||
        !ReadAll(control[0].get(), table.data(), table.size() * sizeof(table[0]), deadline)) {
      return DeadlineExceededError(fmt::format(
          "collective: rank {} reached rank 0 at {}:{}, but not every rank arrived within {} s",
          rank, options.host, options.port, options.timeout.count() / 1000));
    }
    if (options.data_mesh) {
      KILN_ASSIGN_OR_RETURN(data[0], ConnectWithRetry(root, deadline, "rank 0"));
      for (int peer = 1; peer < rank; ++peer) {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = table[index(peer)].first;
        address.sin_port = htons(static_cast<uint16_t>(table[index(peer)].second));
        KILN_ASSIGN_OR_RETURN(data[index(peer)],
                              ConnectWithRetry(address, deadline, fmt::format("rank {}", peer)));
      }
      for (int peer = 0; peer < rank; ++peer) {
        if (!WriteAll(data[index(peer)].get(), &hello, sizeof(hello))) {
          return UnavailableError(fmt::format("collective: rank {} left during rendezvous", peer));
        }
      }
      for (int arrived = rank + 1; arrived < size; ++arrived) {
        auto accepted = AcceptBefore(data_listener.get(), deadline);
        Hello from;
        if (!accepted.ok() || !ReadAll(accepted->get(), &from, sizeof(from), deadline) ||
            from.rank <= rank || from.rank >= size || data[index(from.rank)]) {
          return DeadlineExceededError(
              fmt::format("collective: rank {} waited for data connections from ranks {}", rank,
                          MissingRanks(data, rank)));
        }
        data[index(from.rank)] = std::move(accepted).value();
      }
    }
  }
  for (auto& fd : control) {
    if (fd) KILN_RETURN_IF_ERROR(SetUp(fd.get()));
  }
  for (auto& fd : data) {
    if (fd) KILN_RETURN_IF_ERROR(SetUp(fd.get()));
  }
  return Connections{Mesh(rank, size, std::move(control)), Mesh(rank, size, std::move(data))};
}

}  // namespace kiln::collective
