#pragma once

// The framing between `kiln serve` and one of its Python scoring workers
// (kiln/_score_worker.py; docs/serving.md, "Worker protocol"), over one end of a Unix
// stream socketpair each.
//
// A frame is one kind byte, the payload's length as 4 bytes little-endian, then the
// payload. In order:
//   1. worker -> kiln: Ready {"protocol": 1, "pid", "python"} once init() returned, or
//      InitFailed {"type", "message"} when importing the script or init() failed (the
//      worker then exits);
//   2. kiln -> worker: Request, the HTTP request's body as it came;
//   3. worker -> kiln: Answer, run()'s result as JSON text, or Error {"type", "message",
//      "status": 400 or 500};
//   then 2 and 3 again, one request at a time. Closing kiln's end asks the worker to exit.
// The protocol's version is in Ready; a worker of another version is refused.
//
// Thread-compatible: each socket is used by one thread at a time.

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.h"

namespace kiln::serve {

inline constexpr int kWorkerProtocolVersion = 1;

enum class FrameKind : char {
  kReady = 'R',
  kInitFailed = 'F',
  kRequest = 'Q',
  kAnswer = 'A',
  kError = 'E',
};

struct Frame {
  FrameKind kind = FrameKind::kAnswer;
  std::string payload;
};

using Deadline = std::chrono::steady_clock::time_point;

// Sends one frame (the socket may be non-blocking). Unavailable when the peer has gone
// (never SIGPIPE), DeadlineExceeded when it does not take the bytes in time.
Status WriteFrame(int fd, FrameKind kind, std::string_view payload, Deadline deadline);

// Reads one whole frame. Unavailable when the peer closes before one (its end or a reset),
// DeadlineExceeded when none comes in time, DataLoss for an unknown kind or a payload over
// `max_payload` bytes (nothing more can be read from the socket then).
Result<Frame> ReadFrame(int fd, Deadline deadline, std::size_t max_payload);

}  // namespace kiln::serve
