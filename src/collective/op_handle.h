#pragma once

// What a caller of the runtime holds: the entry it enqueued (a tensor: pointers, dtype and
// shape, never a torch type) and the handle that says when its op is done.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "collective/message.h"
#include "common/result.h"

namespace kiln::collective {

class OpHandle {
 public:
  bool Poll() const;
  Status Wait() const;

  // Set before Complete; read after Wait.
  std::vector<int64_t> received_splits;  // alltoall: rows received from each rank
  int32_t last_joined_rank = -1;         // join
  // Whatever the caller needs alive until the op is done (the binding's tensors).
  std::shared_ptr<void> keep_alive;

  void Complete(Status status);

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable done_changed_;
  bool done_ = false;
  Status status_;
};

struct TensorEntry {
  Request request;
  const void* input = nullptr;
  // allreduce, broadcast: the output, as large as the input (it may be the input).
  void* output = nullptr;
  // allgather, alltoall, reducescatter: called on the background thread once the output's
  // shape is known; returns where to write it.
  std::function<Result<void*>(const std::vector<int64_t>& shape)> allocate_output;
  std::shared_ptr<OpHandle> handle = std::make_shared<OpHandle>();
  std::chrono::steady_clock::time_point enqueued;
};

}  // namespace kiln::collective
