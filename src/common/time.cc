#include "common/time.h"

#include <fmt/format.h>

#include <ctime>

namespace kiln {
namespace {

class RealClock : public Clock {
 public:
  Timestamp Now() const override {
    using std::chrono::duration_cast;
    using std::chrono::microseconds;
    return duration_cast<microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  }
  std::int64_t MonotonicMicros() const override {
    using std::chrono::duration_cast;
    using std::chrono::microseconds;
    return duration_cast<microseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
};

std::tm ToUtc(Timestamp t) {
  const std::time_t seconds = static_cast<std::time_t>(t / 1'000'000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return utc;
}

}  // namespace

const Clock& SystemClock() {
  static const RealClock* const clock = new RealClock();
  return *clock;
}

std::string FormatTimestamp(Timestamp t) {
  const std::tm utc = ToUtc(t);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", utc.tm_year + 1900,
                     utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                     t % 1'000'000);
}

std::string FormatTimestampShort(Timestamp t) {
  const std::tm utc = ToUtc(t);
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", utc.tm_year + 1900, utc.tm_mon + 1,
                     utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
}

std::optional<Timestamp> ParseTimestamp(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS.uuuuuuZ, exactly as FormatTimestamp writes it.
  if (text.size() != 27 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text[19] != '.' || text[26] != 'Z') {
    return std::nullopt;
  }
  const auto number = [&](std::size_t pos, std::size_t len) -> std::optional<int> {
    int value = 0;
    for (std::size_t i = pos; i < pos + len; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      value = value * 10 + (text[i] - '0');
    }
    return value;
  };
  const auto year = number(0, 4), month = number(5, 2), day = number(8, 2);
  const auto hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
  const auto micros = number(20, 6);
  if (!year || !month || !day || !hour || !minute || !second || !micros) return std::nullopt;
  std::tm utc{};
  utc.tm_year = *year - 1900;
  utc.tm_mon = *month - 1;
  utc.tm_mday = *day;
  utc.tm_hour = *hour;
  utc.tm_min = *minute;
  utc.tm_sec = *second;
  const std::time_t seconds = timegm(&utc);
  return static_cast<Timestamp>(seconds) * 1'000'000 + *micros;
}

std::string FormatDuration(std::int64_t micros) {
  if (micros < 0) micros = 0;
  const std::int64_t seconds = micros / 1'000'000;
  if (seconds < 1) return fmt::format("{}ms", micros / 1000);
  if (seconds < 60) return fmt::format("{:.1f}s", static_cast<double>(micros) / 1e6);
  if (seconds < 3600) return fmt::format("{}m{:02}s", seconds / 60, seconds % 60);
  if (seconds < 86400) return fmt::format("{}h{:02}m", seconds / 3600, (seconds % 3600) / 60);
  return fmt::format("{}d{:02}h", seconds / 86400, (seconds % 86400) / 3600);
}

}  // namespace kiln
