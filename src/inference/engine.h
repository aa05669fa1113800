#pragma once

// Engine: Kiln's ONNX inference engine. It reads a model (onnx_graph.h, which runs the ONNX
// checker), compiles it for oneDNN (plan.h) and runs batches on the CPU: one input or
// several, float32 or integer, with a dynamic batch and other open dimensions (a sequence
// length), a plan compiled per set of input shapes.
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
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "inference/onnx_graph.h"

namespace kiln::inference {

class Plan;

// A shape as errors print it: [?, 3, 224, 224] with ? for an open dimension.
std::string ShapeText(const std::vector<int64_t>& shape);

struct EngineOptions {
  int threads = 0;                   // OpenMP threads for one run; 0: every core
  std::int64_t max_plan_batch = 64;  // rounded down to a power of two
};

struct Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
  // The axis that holds the run's samples (BatchAxis below); none for an output that sums
  // over the batch.
  std::optional<size_t> batch_axis;
};

// One input of a run, in the model's order, batch first: float32 values for a float input,
// integers for an int64 or int32 one (token ids, masks).
struct InputTensor {
  std::vector<int64_t> shape;
  std::span<const float> floats;
  std::span<const int64_t> ints;
};

class Engine {
 public:
  // Reads and compiles `path` (for batch 1, and 8 for any other open dimension, so an
  // unsupported operator fails here).
  static Result<std::unique_ptr<Engine>> Load(const std::string& path, EngineOptions options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const std::vector<ValueInfo>& inputs() const { return graph_.inputs; }
  const ValueInfo& input() const { return graph_.inputs[0]; }
  // Their shapes as the model declares them (kDynamicDim for the batch).
  const std::vector<ValueInfo>& outputs() const { return graph_.outputs; }
  const std::string& producer() const { return graph_.producer; }
  int64_t opset() const { return graph_.opset; }
  bool dynamic_batch() const { return input().shape[0] == kDynamicDim; }
  // The open first dimension is a batch (named so, "batch" in any case within its name, or
  // unnamed), so a run may be split into pieces along it and requests joined along it; a
  // sequence-first model's open first dimension ("seq") is not.
  bool batch_first() const;
  // The only batch size a fixed-batch model takes; 0 for a dynamic one.
  int64_t fixed_batch() const { return dynamic_batch() ? 0 : input().shape[0]; }
  // Values in one sample of the first input (its size without the batch dimension); 0 when
  // a dimension besides the batch is open.
  int64_t sample_size() const { return sample_size_; }
  int threads() const { return threads_; }

  // Runs a batch of every input. InvalidArgument, naming the input, when one does not
  // match the model: count, type, rank, a fixed dimension, its values' count, or a batch
  // size unlike the other inputs'.
  Result<std::vector<Tensor>> Run(std::span<const InputTensor> inputs);
  // Runs `batch` samples of a one-input float model laid out one after another.
  // InvalidArgument when input does not hold batch * sample_size() floats or a fixed-batch
  // model is given another size.
  Result<std::vector<Tensor>> Run(std::span<const float> input, int64_t batch);

 private:
  using Shapes = std::vector<std::vector<int64_t>>;
  Engine(OnnxGraph graph, std::string path, int threads, std::int64_t max_plan_batch);
  Result<Plan*> PlanFor(const Shapes& shapes);  // mutex_ held
  Status Check(std::span<const InputTensor> inputs, int64_t* batch) const;
  std::string InputNames() const;  // "ids integer [?, ?], mask integer [?, ?]"
  // The axis of output `output` (of `shape`, from a plan for `piece` samples) that holds
  // the batch: the one named like the first input's batch dimension, or the first unless
  // it is named like an input's other dimension; none when its size is not the piece's.
  std::optional<size_t> BatchAxis(size_t output, const std::vector<int64_t>& shape,
                                  int64_t piece) const;
  static int64_t Count(const std::vector<int64_t>& shape);

  OnnxGraph graph_;
  std::string path_;
  int threads_;
  std::int64_t max_plan_batch_;
  int64_t sample_size_ = 1;
  struct OneDnn;
  std::unique_ptr<OneDnn> onednn_;
  std::mutex mutex_;
  // Plans by input shapes; the least recently used goes past kMaxPlans (open sequence
  // lengths would otherwise grow it without bound).
  static constexpr size_t kMaxPlans = 32;
  struct CachedPlan {
    std::unique_ptr<Plan> plan;
    uint64_t last_used = 0;
  };
  std::map<Shapes, CachedPlan> plans_;
  uint64_t uses_ = 0;
};

}  // namespace kiln::inference
