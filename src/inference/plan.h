#pragma once

// A Plan: one ONNX graph compiled for one batch size into oneDNN primitives.
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

#include <memory>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "inference/onnx_graph.h"

namespace kiln::inference {

class Plan {
 public:
  // `origin` names the model in errors (its path).
  static Result<std::unique_ptr<Plan>> Compile(const OnnxGraph& graph, int64_t batch,
                                               const dnnl::engine& engine,
                                               const std::string& origin);

  // Runs the plan on `batch` samples at `input`, writing output i to outputs[i] (each of
  // output_size(i) floats). Not thread-safe: a plan holds its intermediate values.
  void Execute(dnnl::stream& stream, const float* input, const std::vector<float*>& outputs);

  int64_t batch() const { return batch_; }
  // The concrete shape of output i for this batch size.
  const std::vector<int64_t>& output_shape(size_t i) const { return output_shapes_[i]; }
  int64_t output_size(size_t i) const;

 private:
  struct Step {
    dnnl::primitive primitive;
    std::unordered_map<int, dnnl::memory> args;
  };
  friend class PlanCompiler;

  int64_t batch_ = 0;
  dnnl::memory input_;
  std::vector<dnnl::memory> outputs_;
  std::vector<std::vector<int64_t>> output_shapes_;
  std::vector<Step> steps_;
  std::vector<dnnl::memory> keep_alive_;     // buffers that reshaped views alias
  std::vector<dnnl::memory> input_aliases_;  // views of the input, bound with it
};

}  // namespace kiln::inference
