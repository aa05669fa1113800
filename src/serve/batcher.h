#pragma once

// Batcher: dynamic batching in front of an Engine. Callers (the HTTP threads) hand in
// requests and wait; one worker thread takes whatever requests are queued, whole and in
// order, up to max_batch samples together (a larger request runs alone), runs them as one
// engine batch and hands each caller its rows. Requests that arrive while the engine is
// busy therefore ride together; `timeout` additionally holds a lone request back so that
// others may join it (0: never wait).
//
// Backpressure: more than max_queued samples waiting is ResourceExhausted at once, instead
// of a queue that grows without bound.
//
// Failures: an exception from a run (std::bad_alloc, a oneDNN error) fails the requests of
// that run with Internal naming it, is logged (spdlog), and the worker goes on with the
// next requests.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "common/result.h"
#include "inference/engine.h"
#include "serve/score_request.h"

namespace kiln::serve {

struct BatcherOptions {
  std::int64_t max_batch = 64;
  std::chrono::microseconds timeout{0};
  std::int64_t max_queued = 4096;  // samples
};

struct BatcherStats {
  std::int64_t requests = 0;
  std::int64_t batches = 0;  // engine runs
  std::int64_t samples = 0;
  std::int64_t queued = 0;  // samples waiting now
};

// Scores a batch of every input: the engine's Run, or a wrapper of it (tests inject faults
// there).
using RunBatch = std::function<Result<std::vector<inference::Tensor>>(
    std::span<const inference::InputTensor> inputs)>;

class Batcher {
 public:
  // Runs engine.Run.
  Batcher(inference::Engine& engine, BatcherOptions options);
  Batcher(RunBatch run, BatcherOptions options);
  ~Batcher();  // finishes what is queued, then stops
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // The outputs for this request's samples, or the engine's error.
  Result<std::vector<inference::Tensor>> Score(InputBatch input);
  BatcherStats stats() const;

 private:
  struct Pending {
    InputBatch input;
    std::promise<Result<std::vector<inference::Tensor>>> done;
  };
  void Work();
  // Runs the group as one batch and hands each request its rows or the failure.
  void RunTogether(std::vector<Pending*>& group);
  // One result per request of the group; may throw.
  std::vector<Result<std::vector<inference::Tensor>>> RunAndSplit(
      const std::vector<Pending*>& group);

  const RunBatch run_;
  const BatcherOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending*> queue_;
  std::int64_t queued_samples_ = 0;
  bool stopping_ = false;
  // False once a run had an output without a batch axis: requests then run one by one.
  // Written by the worker only (outside the mutex), read by it too.
  bool joinable_ = true;
  BatcherStats stats_;
  std::thread worker_;
};

}  // namespace kiln::serve
