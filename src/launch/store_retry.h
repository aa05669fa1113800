#pragma once

// RetryWhileUnavailable: how the launcher waits out a store it cannot reach (a Kiln server
// restarting, a network outage). The call is made again while it answers Unavailable,
// waiting 250 ms, then twice as long each time (at most 5 s), until `patience` has passed
// on the given clock; `wait` does the waiting and says whether to stop at once (the
// launcher was told to stop). The call's last answer comes back.
// Not thread-safe beyond what `call` and `wait` are.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <string_view>

#include "common/result.h"
#include "common/time.h"

namespace kiln::launch {

struct RetryPolicy {
  const Clock* clock = nullptr;
  std::chrono::seconds patience{0};
  // Waits up to the given time; true means: stop trying.
  std::function<bool(std::chrono::milliseconds)> wait;
};

namespace retry_internal {
inline Status StatusOf(const Status& status) { return status; }
template <typename T>
Status StatusOf(const Result<T>& result) {
  return result.status();
}
}  // namespace retry_internal

template <typename Call>
auto RetryWhileUnavailable(std::string_view what, const RetryPolicy& policy, const Call& call)
    -> decltype(call()) {
  constexpr std::chrono::milliseconds kFirstDelay{250};
  constexpr std::chrono::milliseconds kLongestDelay{5000};
  auto delay = kFirstDelay;
  const std::int64_t deadline =
      policy.clock->MonotonicMicros() + std::chrono::microseconds(policy.patience).count();
  while (true) {
    auto result = call();
    const Status status = retry_internal::StatusOf(result);
    if (status.code() != StatusCode::kUnavailable ||
        policy.clock->MonotonicMicros() + std::chrono::microseconds(delay).count() > deadline) {
      return result;
    }
    spdlog::warn("{}: {}; trying again in {} ms", what, status.message(), delay.count());
    if (policy.wait(delay)) return result;
    delay = std::min(delay * 2, kLongestDelay);
  }
}

}  // namespace kiln::launch
