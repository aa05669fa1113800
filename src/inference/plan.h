#pragma once

// A Plan: one ONNX graph compiled for one set of input shapes (the batch size, and any
// other open dimension such as a sequence length) into oneDNN primitives.
//
// Compiling chooses memory layouts per primitive (format_tag::any: blocked layouts on
// x86), so values flow between convolutions and pooling without reorders; weights are
// reordered into the layout their primitive wants once, here. Folded while compiling: a
// BatchNormalization after a Conv (into its weights and bias), an activation after a Conv
// or Gemm (a post-op), Flatten before a Gemm (the inner product reads the 4-D layout as it
// is), Dropout and Identity (aliases), and a constant bias Add after a MatMul.
//
// Nodes whose inputs are all constants are evaluated while compiling (plan_folding.cc). The
// operators it runs are listed in docs/models.md; anything else fails Compile with the node
// named.

#include <functional>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "inference/onnx_graph.h"

namespace kiln::inference {

// The data of one input for Plan::Execute: float32, or integers (int64) that the plan
// carries as float32 (exact below 2^24: token ids, positions, masks).
struct PlanInput {
  const float* floats = nullptr;
  const int64_t* ints = nullptr;
};

class Plan {
 public:
  // `shapes`: the concrete shape of each graph input, in the graph's order (the batch and
  // any open dimension filled in). `origin` names the model in errors (its path).
  static Result<std::unique_ptr<Plan>> Compile(const OnnxGraph& graph,
                                               const std::vector<std::vector<int64_t>>& shapes,
                                               const dnnl::engine& engine,
                                               const std::string& origin);

  // Runs the plan on `inputs` (one per graph input), writing output i to outputs[i] (each
  // of output_size(i) floats). Not thread-safe: a plan holds its intermediate values.
  // InvalidArgument when a step finds the data out of its range (an index past a table).
  Status Execute(dnnl::stream& stream, const std::vector<PlanInput>& inputs,
                 const std::vector<float*>& outputs);

  // The concrete shape of output i.
  const std::vector<int64_t>& output_shape(size_t i) const { return output_shapes_[i]; }
  int64_t output_size(size_t i) const;

 private:
  // A oneDNN primitive with its arguments, or (where oneDNN has none: embedding lookups,
  // integer inputs) a function of the plan's own.
  struct Step {
    dnnl::primitive primitive;
    std::unordered_map<int, dnnl::memory> args;
    std::function<Status()> run;
  };
  friend class PlanCompiler;

  std::vector<dnnl::memory> inputs_;        // float inputs, bound each run; empty for integer ones
  std::vector<const int64_t*> int_inputs_;  // integer inputs, bound each run
  std::vector<dnnl::memory> outputs_;
  std::vector<std::vector<int64_t>> output_shapes_;
  std::vector<Step> steps_;
  std::vector<dnnl::memory> keep_alive_;  // buffers that reshaped views alias
  // Views of a float input, bound with it: (input index, view).
  std::vector<std::pair<size_t, dnnl::memory>> input_aliases_;
};

}  // namespace kiln::inference
