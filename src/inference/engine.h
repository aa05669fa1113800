#pragma once

// Engine: Kiln's ONNX inference engine. It reads a model (onnx_graph.h, which runs the ONNX
// checker), compiles it for oneDNN (plan.h) and runs float32 batches on the CPU.
//
// Batches: a model whose first input dimension is open takes any batch size. A batch runs
// as pieces with plans of their own, each compiled once: as many of the largest plan size
// (max_plan_batch, a power of two) as fit, then the rest's binary pieces (with 64: 37 as
// 32 + 4 + 1, 100 as 64 + 32 + 4). So at most log2(max_plan_batch) + 1 plans are ever
// built, and memory stays bounded whatever a request holds. A model exported with a fixed
// first dimension takes that size only.
//
// Run() is safe to call from several threads; calls take turns (the scoring server's batcher
// makes one call at a time anyway).

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "inference/onnx_graph.h"

namespace kiln::inference {

class Plan;

struct EngineOptions {
  int threads = 0;                   // OpenMP threads for one run; 0: every core
  std::int64_t max_plan_batch = 64;  // rounded down to a power of two
};

struct Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
};

class Engine {
 public:
  // Reads and compiles `path` (for batch 1, so an unsupported operator fails here).
  static Result<std::unique_ptr<Engine>> Load(const std::string& path, EngineOptions options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const ValueInfo& input() const { return graph_.inputs[0]; }
  // Their shapes as the model declares them (kDynamicDim for the batch).
  const std::vector<ValueInfo>& outputs() const { return graph_.outputs; }
  const std::string& producer() const { return graph_.producer; }
  int64_t opset() const { return graph_.opset; }
  bool dynamic_batch() const { return input().shape[0] == kDynamicDim; }
  // The only batch size a fixed-batch model takes; 0 for a dynamic one.
  int64_t fixed_batch() const { return dynamic_batch() ? 0 : input().shape[0]; }
  // Floats in one sample: the input's size without the batch dimension.
  int64_t sample_size() const { return sample_size_; }
  int threads() const { return threads_; }

  // Runs `batch` samples laid out one after another. InvalidArgument when input does not
  // hold batch * sample_size() floats or a fixed-batch model is given another size.
  Result<std::vector<Tensor>> Run(std::span<const float> input, int64_t batch);

 private:
  Engine(OnnxGraph graph, std::string path, int threads, std::int64_t max_plan_batch);
  Result<Plan*> PlanFor(int64_t batch);  // mutex_ held

  OnnxGraph graph_;
  std::string path_;
  int threads_;
  std::int64_t max_plan_batch_;
  int64_t sample_size_ = 1;
  struct OneDnn;
  std::unique_ptr<OneDnn> onednn_;
  std::mutex mutex_;
  std::map<int64_t, std::unique_ptr<Plan>> plans_;
};

}  // namespace kiln::inference
