#include "serve/batcher.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace kiln::serve {

Batcher::Batcher(inference::Engine& engine, BatcherOptions options)
    : engine_(engine), options_(options), worker_([this] { Work(); }) {}

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
  if (group.size() == 1) {  // no copying for a request alone
    Pending* p = group.front();
    p->done.set_value(engine_.Run(p->input.values, p->input.batch));
    return;
  }
  std::int64_t total = 0;
  for (const Pending* p : group) total += p->input.batch;
  std::vector<float> joined;
  joined.reserve(static_cast<size_t>(total * engine_.sample_size()));
  for (const Pending* p : group) joined.insert(joined.end(), p->input.values.begin(), p->input.values.end());
  Result<std::vector<inference::Tensor>> outputs = engine_.Run(joined, total);
  if (!outputs.ok()) {
    for (Pending* p : group) p->done.set_value(outputs.status());
    return;
  }
  std::int64_t row = 0;
  for (Pending* p : group) {
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
    p->done.set_value(std::move(mine));
  }
}

}  // namespace kiln::serve
