#pragma once

// Time as Kiln stores and prints it: microseconds since the Unix epoch, UTC.
//
// The Clock interface lets tests run on a FakeClock (store timestamps, duration limits)
// while production code reads the system clock.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kiln {

// Microseconds since 1970-01-01T00:00:00Z.
using Timestamp = std::int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time, for records a person reads.
  virtual Timestamp Now() const = 0;
  // A monotonic reading in microseconds, for measuring durations and deadlines.
  virtual std::int64_t MonotonicMicros() const = 0;
};

// The process-wide system clock. Thread-safe; never destroyed.
const Clock& SystemClock();

// A clock that moves only when told to. Not thread-safe.
class FakeClock : public Clock {
 public:
  explicit FakeClock(Timestamp start) : now_(start) {}
  Timestamp Now() const override { return now_; }
  std::int64_t MonotonicMicros() const override { return now_; }
  void Advance(std::chrono::microseconds delta) { now_ += delta.count(); }

 private:
  Timestamp now_;
};

// "2026-12-01T09:12:33.123456Z".
std::string FormatTimestamp(Timestamp t);
// "2026-12-01 09:12:33" (UTC), for tables.
std::string FormatTimestampShort(Timestamp t);
// Parses the FormatTimestamp form.
std::optional<Timestamp> ParseTimestamp(std::string_view text);
// "40ms", "3.2s", "4m12s", "2h03m", "1d04h".
std::string FormatDuration(std::int64_t micros);

}  // namespace kiln
