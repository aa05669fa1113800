#include "serve/batcher.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

namespace kiln::serve {

Batcher::Batcher(inference::Engine& engine, BatcherOptions options)
    : Batcher(
          [&engine](std::span<const inference::InputTensor> inputs) { return engine.Run(inputs); },
          options) {}

Batcher::Batcher(RunBatch run, BatcherOptions options)
    : run_(std::move(run)), options_(options), worker_([this] { Work(); }) {}

Batcher::~Batcher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  worker_.join();
}

BatcherStats Batcher::stats() const {
  std::lock_guard lock(mutex_);
  BatcherStats stats = stats_;
  stats.queued = queued_samples_;
  return stats;
}

Result<std::vector<inference::Tensor>> Batcher::Score(InputBatch input) {
  Pending pending{std::move(input), {}};
  std::future<Result<std::vector<inference::Tensor>>> result = pending.done.get_future();
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return UnavailableError("the server is stopping");
    if (queued_samples_ > 0 && queued_samples_ + pending.input.batch > options_.max_queued) {
      return ResourceExhaustedError(fmt::format(
          "{} samples are waiting to be scored already; retry shortly", queued_samples_));
    }
    queued_samples_ += pending.input.batch;
    queue_.push_back(&pending);
  }
  wake_.notify_one();
  return result.get();
}

void Batcher::Work() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    if (options_.timeout.count() > 0 && queued_samples_ < options_.max_batch && !stopping_) {
      wake_.wait_for(lock, options_.timeout,
                     [&] { return stopping_ || queued_samples_ >= options_.max_batch; });
    }
    // The oldest request, and those after it that can run in one batch with it.
    std::vector<Pending*> group = {queue_.front()};
    std::int64_t samples = queue_.front()->input.batch;
    queue_.pop_front();
    for (auto it = queue_.begin();
         it != queue_.end() && samples < options_.max_batch && joinable_;) {
      Pending* next = *it;
      if (samples + next->input.batch <= options_.max_batch &&
          group.front()->input.Joins(next->input)) {
        samples += next->input.batch;
        group.push_back(next);
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
    queued_samples_ -= samples;
    stats_.requests += static_cast<std::int64_t>(group.size());
    stats_.batches += 1;
    stats_.samples += samples;
    lock.unlock();
    RunTogether(group);
    lock.lock();
  }
}

void Batcher::RunTogether(std::vector<Pending*>& group) {
  std::vector<Result<std::vector<inference::Tensor>>> results;
  std::string failure;
  try {
    results = RunAndSplit(group);
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "an unknown exception";
  }
  if (!failure.empty()) {
    std::int64_t samples = 0;
    for (const Pending* p : group) samples += p->input.batch;
    spdlog::error("scoring {} requests ({} samples) together failed: {}", group.size(), samples,
                  failure);
    results.assign(group.size(), InternalError(fmt::format("scoring failed: {}", failure)));
  }
  for (size_t i = 0; i < group.size(); ++i) group[i]->done.set_value(std::move(results[i]));
}

namespace {

// Samples [first, first + count) of `all` (a run of `total` samples) along its batch axis.
inference::Tensor SamplesOf(const inference::Tensor& all, std::int64_t total, std::int64_t first,
                            std::int64_t count) {
  const size_t axis = *all.batch_axis;
  std::int64_t outer = 1, inner = 1;
  for (size_t a = 0; a < all.shape.size(); ++a) {
    if (a < axis) outer *= all.shape[a];
    if (a > axis) inner *= all.shape[a];
  }
  inference::Tensor mine{all.name, all.shape, {}, axis};
  mine.shape[axis] = count;
  mine.values.reserve(static_cast<size_t>(outer * count * inner));
  for (std::int64_t o = 0; o < outer; ++o) {
    const auto from = all.values.begin() + (o * total + first) * inner;
    mine.values.insert(mine.values.end(), from, from + count * inner);
  }
  return mine;
}

// The group's inputs, one batch after another.
inference::InputTensor Joined(const std::vector<const InputBatch*>& group, size_t k,
                              std::int64_t total, InputValues& storage) {
  storage.shape = group.front()->inputs[k].shape;
  storage.shape[0] = total;
  for (const InputBatch* batch : group) {
    const InputValues& input = batch->inputs[k];
    storage.floats.insert(storage.floats.end(), input.floats.begin(), input.floats.end());
    storage.ints.insert(storage.ints.end(), input.ints.begin(), input.ints.end());
  }
  return {storage.shape, storage.floats, storage.ints};
}

}  // namespace

std::vector<Result<std::vector<inference::Tensor>>> Batcher::RunAndSplit(
    const std::vector<Pending*>& group) {
  std::vector<Result<std::vector<inference::Tensor>>> results;
  const auto run_alone = [&] {
    results.clear();
    for (const Pending* p : group) results.push_back(run_(p->input.Tensors()));
    return results;
  };
  if (group.size() == 1) return run_alone();  // no copying for a request alone
  std::int64_t total = 0;
  std::vector<const InputBatch*> batches;
  for (const Pending* p : group) {
    total += p->input.batch;
    batches.push_back(&p->input);
  }
  const size_t inputs = group.front()->input.inputs.size();
  std::vector<InputValues> storage(inputs);
  std::vector<inference::InputTensor> joined;
  for (size_t k = 0; k < inputs; ++k) joined.push_back(Joined(batches, k, total, storage[k]));
  Result<std::vector<inference::Tensor>> outputs = run_(joined);
  // A request's values the engine refuses (an id past an embedding table) must fail that
  // request alone, not those it rode with.
  if (!outputs.ok() && outputs.status().code() == StatusCode::kInvalidArgument) return run_alone();
  if (!outputs.ok()) {
    results.assign(group.size(), outputs.status());
    return results;
  }
  for (const inference::Tensor& output : *outputs) {
    // An output without the samples along one axis (a sum over the batch) cannot be cut;
    // from now on every request runs on its own.
    if (!output.batch_axis.has_value()) {
      joinable_ = false;
      return run_alone();
    }
  }
  std::int64_t first = 0;
  for (const Pending* p : group) {
    std::vector<inference::Tensor> mine;
    for (const inference::Tensor& all : *outputs) {
      mine.push_back(SamplesOf(all, total, first, p->input.batch));
    }
    first += p->input.batch;
    results.push_back(std::move(mine));
  }
  return results;
}

}  // namespace kiln::serve
