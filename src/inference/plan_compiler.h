#pragma once

// PlanCompiler: builds a Plan (plan.h) from a graph, node by node. Internal to inference/;
// its methods live by concept: plan.cc (the walk over the graph, values, layouts, fusion),
// plan_layers.cc (Conv, Gemm and MatMul, pooling, batch norm), plan_tensor_ops.cc
// (element-wise ops, softmax, reshapes and shape arithmetic).

#include <fmt/format.h>

#include <map>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "inference/plan.h"

namespace kiln::inference {

using dnnl::memory;
using Tag = memory::format_tag;
using Dims = memory::dims;
constexpr memory::data_type kF32 = memory::data_type::f32;

// Row-major layout tags (a, ab, abc, ...) by rank, and a row-major descriptor.
Tag PlainTag(size_t rank);
memory::desc PlainDesc(const Dims& dims);
// An unblocked layout whose strides are not row-major (channels-last, a transpose's view),
// even where only the strides of dimensions of size 1 differ.
bool IsPermuted(const memory::desc& desc);
// The desc addresses its elements exactly as PlainDesc(dims) does (it differs only in the
// strides of dimensions of size 1), so the bytes may be read as plain without a copy.
bool SameBytesAsPlain(const memory::desc& desc, const Dims& dims);
int64_t Product(const Dims& dims, size_t from = 0);
// Numpy's broadcast of two shapes; false when they do not broadcast.
bool BroadcastShape(const Dims& a, const Dims& b, Dims* out);
// For each element of `out` (row-major), the element of `in` it reads when broadcast.
std::vector<size_t> BroadcastIndex(const Dims& in, const Dims& out);
// ONNX float data types (onnx::TensorProto::DataType): float, float16, double, bfloat16.
inline bool IsFloat(int64_t type) { return type == 1 || type == 10 || type == 11 || type == 16; }

struct Activation {
  dnnl::algorithm algorithm;
  float alpha = 0;
  float beta = 0;
};

// The ONNX activations Kiln's engine runs as oneDNN eltwise ops (and post-ops).
const std::set<std::string>& ActivationOps();

// A value flowing through the plan.
struct Value {
  memory mem;  // in the layout its producer chose
  Dims dims;   // logical
  // A Flatten of a 4-D value that nothing has needed in plain layout yet: `mem` is empty
  // and `flat_source` is the 4-D value (a Gemm reads it as it is).
  memory flat_source;
  Dims source_dims;
};

class PlanCompiler {
 public:
  PlanCompiler(const OnnxGraph& graph, const std::vector<Dims>& shapes, const dnnl::engine& engine,
               const std::string& origin, Plan& plan)
      : graph_(graph),
        shapes_(shapes),
        engine_(engine),
        stream_(engine),
        origin_(origin),
        plan_(plan),
        fused_(graph.nodes.size(), false) {}

  Status Compile();

 private:
  const Node& node(size_t i) const { return graph_.nodes[i]; }
  Status NodeError(const Node& n, const std::string& what) const {
    return InvalidArgumentError(
        fmt::format("{}: node '{}' ({}): {}", origin_, n.name, n.op_type, what));
  }
  // A constant of the file, or one computed while compiling (shape arithmetic).
  const Constant* FindConstant(const std::string& name) const {
    if (const auto it = graph_.constants.find(name); it != graph_.constants.end())
      return &it->second;
    const auto it = computed_.find(name);
    return it == computed_.end() ? nullptr : &it->second;
  }
  Result<const Constant*> FloatConstant(const Node& n, size_t input, const char* role) const;
  Result<Value*> Data(const Node& n, size_t input);
  // The one node reading `name`, when it is one of `ops` and `name` is no graph output, as
  // its first input (or as any input, for a commutative op).
  std::optional<size_t> SoleConsumer(const std::string& name, const std::set<std::string>& ops,
                                     bool any_input = false);
  // Activations (plan_activations.cc). An ONNX activation as a chain of oneDNN eltwise ops.
  Result<std::vector<Activation>> ActivationOf(const Node& n) const;
  // An activation reading `x`: one activation op, or the nodes of a SiLU or GELU.
  struct ActivationMatch {
    std::vector<Activation> chain;
    std::vector<size_t> nodes;  // the nodes it replaces, in graph order
    std::string output;
  };
  // `exclusive`: nothing else reads `x` (so `x` itself need never exist); `starting_at`:
  // only a match whose first node is that one.
  std::optional<ActivationMatch> MatchActivation(const std::string& x, bool exclusive,
                                                 std::optional<size_t> starting_at = {});
  // The one node reading `name`, when it is an `op` and `name` is no graph output.
  std::optional<size_t> OnlyConsumer(const std::string& name, const std::string& op);
  bool IsScalar(const std::string& name, float value) const;  // a constant of that value
  // Folds the activation that alone reads `*output` into `attr`; `*output` becomes its output.
  Status FuseActivation(std::string* output, dnnl::primitive_attr* attr);
  // The activation as a step of its own, on node i's first input.
  Status EmitActivation(size_t i, const ActivationMatch& match);

  memory Plain(Value& value);  // the value in plain (row-major) layout, reordering if needed
  memory Reorder(const memory& from, const memory::desc& to);  // a step
  memory Weights(const memory::desc& want, const Dims& dims, Tag tag,
                 const std::vector<float>& data);
  void AddStep(dnnl::primitive primitive, std::unordered_map<int, memory> args) {
    plan_.steps_.push_back({std::move(primitive), std::move(args)});
  }

  Status Conv(size_t i);
  Status Gemm(size_t i);    // Gemm, and MatMul by a 2-D constant: a layer
  Status MatMul(size_t i);  // MatMul of computed values (plan_matmul.cc)
  Status Reduce(size_t i);  // plan_normalization.cc
  Status LayerNorm(size_t i);
  // LayerNormalization as the exporter writes it before opset 17, starting at its first
  // ReduceMean (node i): mean, Sub, Pow 2, ReduceMean, Add epsilon, Sqrt, Div, and an
  // optional Mul by a scale and Add of a shift. Emitted as one layer normalization; false
  // (nothing emitted) when the nodes from i are not that.
  Result<bool> DecomposedLayerNorm(size_t i);
  // Layer normalization of `x` over the axes from `axis` on, as node `n` (for errors) asks.
  Status EmitLayerNorm(const Node& n, Value& x, int64_t axis, float epsilon, const Constant* scale,
                       const Constant* shift, const std::string& output);
  Status Recurrent(size_t i);  // LSTM, GRU, RNN (plan_recurrent.cc)
  Status Pool(size_t i);
  Status Eltwise(size_t i);
  Status BatchNorm(size_t i);
  Status Binary(size_t i);
  Status Softmax(size_t i);
  Status Where(size_t i);
  // Layout ops (plan_layout_ops.cc).
  Status Reshape(size_t i);
  Status Shape(size_t i);
  Status Transpose(size_t i);
  Status Concat(size_t i);
  Status Slice(size_t i);
  Status Split(size_t i);
  Status GatherData(size_t i);
  Status Embedding(size_t i, const Constant& table);  // rows of `table` by computed ids
  Status Pad(size_t i);
  // `x` in plain layout seen with `dims` (same element count): no copy.
  memory View(Value& x, const Dims& dims);
  // A memory over `base`'s buffer; one over the plan's input is re-bound with it each run.
  memory Alias(const memory& base, const memory::desc& desc);
  // Input `input` of `n` as an operand of rank `like.size()`: a constant as weights.
  memory Operand(const Node& n, size_t input, const Dims& like);
  // A Slice's region of an input of `dims`: where it starts, its size and its steps.
  struct SliceSpec {
    Dims dims, starts, steps;
  };
  Result<SliceSpec> SliceOf(const Node& n, const Dims& in) const;
  memory Strided(Value& x, const SliceSpec& spec);  // a step copying the region out

  // Constant folding (plan_folding.cc).
  bool Foldable(const Node& n) const;  // an op it evaluates, every input a constant
  Status Fold(size_t i);
  // The shape Reshape, Flatten, Squeeze or Unsqueeze (or Identity) gives an input of `in`.
  Result<Dims> ReshapedDims(const Node& n, const Dims& in) const;

  const OnnxGraph& graph_;
  const std::vector<Dims>& shapes_;              // of the graph's inputs
  std::map<dnnl_memory_t, size_t> input_index_;  // the plan's float inputs' memories
  const dnnl::engine& engine_;
  dnnl::stream stream_;  // for reordering weights while compiling
  const std::string& origin_;
  Plan& plan_;
  std::vector<bool> fused_;
  std::unordered_map<std::string, Value> values_;
  // Constants folded while compiling (plan_folding.cc); shapes are known once the batch
  // size is: x.view(x.size(0), -1) exports as Shape, Gather, Unsqueeze, Concat, Reshape.
  std::map<std::string, Constant> computed_;
  std::unordered_map<std::string, std::vector<size_t>> consumers_;
  std::set<std::string> graph_outputs_;
};

}  // namespace kiln::inference
