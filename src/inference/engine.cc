#include "inference/engine.h"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <oneapi/dnnl/dnnl.hpp>
#include <thread>

#include "inference/plan.h"

namespace kiln::inference {

struct Engine::OneDnn {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
};

Engine::Engine(OnnxGraph graph, std::string path, int threads, std::int64_t max_plan_batch)
    : graph_(std::move(graph)),
      path_(std::move(path)),
      threads_(threads),
      max_plan_batch_(static_cast<std::int64_t>(
          std::bit_floor(static_cast<std::uint64_t>(std::max<std::int64_t>(1, max_plan_batch))))),
      onednn_(std::make_unique<OneDnn>()) {
  for (size_t d = 1; d < input().shape.size(); ++d) sample_size_ *= input().shape[d];
}

Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::Load(const std::string& path, EngineOptions options) {
  Result<OnnxGraph> graph = ReadOnnxGraph(path);
  if (!graph.ok()) return graph.status();
  if (graph->inputs.size() != 1 || graph->inputs[0].shape.empty()) {
    return InvalidArgumentError(fmt::format(
        "{}: the model has {} inputs; Kiln's engine serves models with one input, batch first",
        path, graph->inputs.size()));
  }
  const int threads = options.threads > 0
                          ? options.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::unique_ptr<Engine> engine(
      new Engine(std::move(graph).value(), path, threads, options.max_plan_batch));
  std::lock_guard lock(engine->mutex_);
  const int64_t first = engine->dynamic_batch() ? 1 : engine->fixed_batch();
  Result<Plan*> plan = engine->PlanFor(first);
  if (!plan.ok()) return plan.status();
  return engine;
}

Result<Plan*> Engine::PlanFor(int64_t batch) {
  auto it = plans_.find(batch);
  if (it == plans_.end()) {
    omp_set_num_threads(threads_);
    Result<std::unique_ptr<Plan>> plan = Plan::Compile(graph_, batch, onednn_->engine, path_);
    if (!plan.ok()) return plan.status();
    it = plans_.emplace(batch, std::move(plan).value()).first;
  }
  return it->second.get();
}

Result<std::vector<Tensor>> Engine::Run(std::span<const float> input, int64_t batch) {
  if (batch < 1 || static_cast<int64_t>(input.size()) != batch * sample_size_) {
    return InvalidArgumentError(
        fmt::format("the input holds {} floats; a batch of {} needs {} ({} per sample)",
                    input.size(), batch, batch * sample_size_, sample_size_));
  }
  if (!dynamic_batch() && batch != fixed_batch()) {
    return InvalidArgumentError(fmt::format(
        "the model was exported for batches of {} exactly; export it with a dynamic batch to "
        "score {}",
        fixed_batch(), batch));
  }
  std::lock_guard lock(mutex_);
  omp_set_num_threads(threads_);  // per calling thread in OpenMP
  // The pieces: the whole batch when it has a plan (a fixed batch), otherwise full pieces
  // of the largest plan and the rest's binary decomposition.
  std::vector<int64_t> pieces;
  if (plans_.count(batch) != 0) {
    pieces.push_back(batch);
  } else {
    const int64_t rest = batch % max_plan_batch_;
    pieces.assign(static_cast<size_t>(batch / max_plan_batch_), max_plan_batch_);
    for (int64_t bit = max_plan_batch_ / 2; bit > 0; bit >>= 1) {
      if ((rest & bit) != 0) pieces.push_back(bit);
    }
  }
  std::vector<Tensor> outputs(graph_.outputs.size());
  std::vector<std::vector<float*>> targets;
  int64_t done = 0;
  for (const int64_t piece : pieces) {
    Result<Plan*> plan = PlanFor(piece);
    if (!plan.ok()) return plan.status();
    std::vector<float*> at(outputs.size());
    for (size_t o = 0; o < outputs.size(); ++o) {
      Tensor& out = outputs[o];
      const int64_t per_sample = (*plan)->output_size(o) / piece;
      if (out.values.empty()) {
        out.name = graph_.outputs[o].name;
        out.shape = (*plan)->output_shape(o);
        out.shape[0] = batch;
        out.values.resize(static_cast<size_t>(per_sample * batch));
      }
      at[o] = out.values.data() + done * per_sample;
    }
    (*plan)->Execute(onednn_->stream, input.data() + done * sample_size_, at);
    done += piece;
  }
  return outputs;
}

}  // namespace kiln::inference
