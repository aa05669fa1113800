#include "serve/batcher.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

namespace kiln::serve {

Batcher::Batcher(inference::Engine& engine, BatcherOptions options)
    : Batcher([&engine](std::span<const float> input,
                        std::int64_t batch) { return engine.Run(input, batch); },
              engine.sample_size(), options) {}

Batcher::Batcher(RunBatch run, std::int64_t sample_size, BatcherOptions options)
    : run_(std::move(run)),
      sample_size_(sample_size),
      options_(options),
      worker_([this] { Work(); }) {}

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
    std::vector<Pending*> group;
    std::int64_t samples = 0;
    while (!queue_.empty() &&
           (group.empty() || samples + queue_.front()->input.batch <= options_.max_batch)) {
      samples += queue_.front()->input.batch;
      group.push_back(queue_.front());
      queue_.pop_front();
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

std::vector<Result<std::vector<inference::Tensor>>> Batcher::RunAndSplit(
    const std::vector<Pending*>& group) {
  std::vector<Result<std::vector<inference::Tensor>>> results;
  if (group.size() == 1) {  // no copying for a request alone
    const Pending* p = group.front();
    results.push_back(run_(p->input.values, p->input.batch));
    return results;
  }
  std::int64_t total = 0;
  for (const Pending* p : group) total += p->input.batch;
  std::vector<float> joined;
  joined.reserve(static_cast<size_t>(total * sample_size_));
  for (const Pending* p : group)
    joined.insert(joined.end(), p->input.values.begin(), p->input.values.end());
  Result<std::vector<inference::Tensor>> outputs = run_(joined, total);
  if (!outputs.ok()) {
    results.assign(group.size(), outputs.status());
    return results;
  }
  std::int64_t row = 0;
  for (const Pending* p : group) {
    std::vector<inference::Tensor> mine;
    for (const inference::Tensor& all : *outputs) {
      const std::int64_t per_sample = static_cast<std::int64_t>(all.values.size()) / total;
      inference::Tensor t{all.name, all.shape, {}};
      t.shape[0] = p->input.batch;
      t.values.assign(all.values.begin() + row * per_sample,
                      all.values.begin() + (row + p->input.batch) * per_sample);
      mine.push_back(std::move(t));
    }
    row += p->input.batch;
    results.push_back(std::move(mine));
  }
  return results;
}

}  // namespace kiln::serve
