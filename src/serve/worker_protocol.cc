#include "serve/worker_protocol.h"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace kiln::serve {

namespace {

constexpr std::size_t kHeaderBytes = 5;

// Waits for `events` on `fd` until `deadline`; false when it passed.
Result<bool> WaitFor(int fd, short events, Deadline deadline) {
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) return false;
    pollfd entry{fd, events, 0};
    // Rounded up, so a wait never spins on a sub-millisecond remainder.
    const int ready = ::poll(&entry, 1, static_cast<int>(left.count()) + 1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return ErrnoError("poll on a worker's socket", errno);
    if (ready > 0) return true;
  }
}

bool IsKnownKind(char kind) {
  switch (static_cast<FrameKind>(kind)) {
    case FrameKind::kReady:
    case FrameKind::kInitFailed:
    case FrameKind::kRequest:
    case FrameKind::kAnswer:
    case FrameKind::kError:
      return true;
  }
  return false;
}

// Reads exactly `size` bytes into `out`.
Status ReadExactly(int fd, char* out, std::size_t size, Deadline deadline) {
  std::size_t done = 0;
  while (done < size) {
    KILN_ASSIGN_OR_RETURN(const bool readable, WaitFor(fd, POLLIN, deadline));
    if (!readable) return DeadlineExceededError("the worker did not answer in time");
    const ssize_t n = ::recv(fd, out + done, size - done, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n < 0 && errno == ECONNRESET) return UnavailableError("the worker's socket was reset");
    if (n < 0) return ErrnoError("read from a worker", errno);
    if (n == 0) return UnavailableError("the worker closed its socket");
    done += static_cast<std::size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

Status WriteFrame(int fd, FrameKind kind, std::string_view payload, Deadline deadline) {
  if (payload.size() > UINT32_MAX) {
    return InvalidArgumentError(fmt::format("a frame of {} bytes is too large", payload.size()));
  }
  char header[kHeaderBytes];
  header[0] = static_cast<char>(kind);
  const auto length = static_cast<std::uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i) header[1 + i] = static_cast<char>((length >> (8 * i)) & 0xff);
  const std::string_view parts[] = {std::string_view(header, kHeaderBytes), payload};
  for (const std::string_view part : parts) {
    std::size_t done = 0;
    while (done < part.size()) {
      KILN_ASSIGN_OR_RETURN(const bool writable, WaitFor(fd, POLLOUT, deadline));
      if (!writable) return DeadlineExceededError("the worker did not take the request in time");
      const ssize_t n =
          ::send(fd, part.data() + done, part.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
        return UnavailableError("the worker has closed its socket");
      }
      if (n < 0) return ErrnoError("write to a worker", errno);
      done += static_cast<std::size_t>(n);
    }
  }
  return Status::Ok();
}

Result<Frame> ReadFrame(int fd, Deadline deadline, std::size_t max_payload) {
  char header[kHeaderBytes];
  KILN_RETURN_IF_ERROR(ReadExactly(fd, header, kHeaderBytes, deadline));
  if (!IsKnownKind(header[0])) {
    return DataLossError(fmt::format("the worker sent a frame of unknown kind 0x{:02x}",
                                     static_cast<unsigned char>(header[0])));
  }
  std::uint32_t length = 0;
  for (int i = 3; i >= 0; --i) length = (length << 8) | static_cast<unsigned char>(header[1 + i]);
  if (length > max_payload) {
    return DataLossError(fmt::format(
        "the worker sent {} bytes, more than the {} bytes a reply may hold", length, max_payload));
  }
  Frame frame;
  frame.kind = static_cast<FrameKind>(header[0]);
  frame.payload.resize(length);
  KILN_RETURN_IF_ERROR(ReadExactly(fd, frame.payload.data(), length, deadline));
  return frame;
}

}  // namespace kiln::serve
