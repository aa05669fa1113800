#pragma once

// A Chrome-trace timeline (chrome://tracing, Perfetto) of every tensor's life on rank 0
// (the only rank that writes one): NEGOTIATE from enqueue to the coordinator's answer, then the op
// itself (ALLREDUCE, with the fused tensors' count). One row per tensor name. Started by
// HOROVOD_TIMELINE=FILE at init or by start_timeline(); the file is a JSON array, closed by stop or
// shutdown.

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/status.h"

namespace kiln::collective {

class Timeline {
 public:
  using Clock = std::chrono::steady_clock;

  ~Timeline();
  Status Start(const std::string& path, int rank);
  void Stop();
  bool active() const;

  void Record(const std::string& tensor, std::string_view phase, Clock::time_point start,
              Clock::time_point end, size_t fused = 1);

 private:
  mutable std::mutex mutex_;
  std::FILE* file_ = nullptr;
  int rank_ = 0;
  bool first_ = true;
  Clock::time_point origin_ = Clock::now();
  std::unordered_map<std::string, int> rows_;
};

}  // namespace kiln::collective
