// PlanCompiler's reductions (ReduceMean, ReduceSum, ReduceMax, ReduceMin) and
// LayerNormalization (opset 17), as oneDNN reduction and layer normalization primitives.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "inference/plan_compiler.h"

namespace kiln::inference {

Status PlanCompiler::Reduce(size_t i) {
  const Node& n = node(i);
  Result<Value*> xr = Data(n, 0);
  if (!xr.ok()) return xr.status();
  Value& x = **xr;
  const int64_t rank = static_cast<int64_t>(x.dims.size());
  // Axes are an attribute, or (ReduceSum from opset 13, the rest from 18) an input.
  std::vector<int64_t> axes = n.Ints("axes", {});
  if (n.inputs.size() > 1 && !n.inputs[1].empty()) {
    const Constant* c = FindConstant(n.inputs[1]);
    if (c == nullptr || c->is_float) return NodeError(n, "its axes must be an integer constant");
    axes = c->ints;
  }
  if (axes.empty() && n.Int("noop_with_empty_axes", 0) != 0) {
    values_[n.outputs[0]] = x;
    return Status::Ok();
  }
  for (const int64_t axis : axes) {
    if (axis < -rank || axis >= rank) {
      return NodeError(n, fmt::format("axis {} is out of range for {}", axis, x.dims));
    }
  }
  Dims kept_dims = x.dims, dropped_dims;
  for (int64_t d = 0; d < rank; ++d) {
    const bool reduced = axes.empty() || std::find(axes.begin(), axes.end(), d) != axes.end() ||
                         std::find(axes.begin(), axes.end(), d - rank) != axes.end();
    if (reduced) {
      kept_dims[d] = 1;
    } else {
      dropped_dims.push_back(x.dims[d]);
    }
  }
  if (kept_dims == x.dims) {  // every reduced axis has size 1
    Value out = x;
    if (n.Int("keepdims", 1) == 0) {
      out = Value{View(x, dropped_dims), dropped_dims, {}, {}};
    }
    values_[n.outputs[0]] = out;
    return Status::Ok();
  }
  using dnnl::algorithm;
  const std::string& op = n.op_type;
  const algorithm kind = op == "ReduceMean"  ? algorithm::reduction_mean
                         : op == "ReduceSum" ? algorithm::reduction_sum
                         : op == "ReduceMax" ? algorithm::reduction_max
                                             : algorithm::reduction_min;
  const memory src = Plain(x);
  const dnnl::reduction::primitive_desc pd(
      dnnl::reduction::desc(kind, src.get_desc(), PlainDesc(kept_dims), 0.0f, 0.0f), engine_);
  memory dst(pd.dst_desc(), engine_);
  AddStep(dnnl::reduction(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
  Value out{dst, kept_dims, {}, {}};
  if (n.Int("keepdims", 1) == 0) {
    out.mem = View(out, dropped_dims);
    out.dims = dropped_dims;
  }
  values_[n.outputs[0]] = out;
  return Status::Ok();
}

Status PlanCompiler::LayerNorm(size_t i) {
  const Node& n = node(i);
  Result<Value*> xr = Data(n, 0);
  if (!xr.ok()) return xr.status();
  Value& x = **xr;
  const int64_t rank = static_cast<int64_t>(x.dims.size());
  int64_t axis = n.Int("axis", -1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return NodeError(n, "axis out of range");
  // oneDNN normalises over the last axis: the axes from `axis` on are seen as one.
  const int64_t inner = Product(x.dims, static_cast<size_t>(axis));
  const Dims flat = {Product(Dims(x.dims.begin(), x.dims.begin() + axis)), inner};
  std::unordered_map<int, memory> args;
  const char* names[2] = {"scale", "bias"};
  const int roles[2] = {DNNL_ARG_SCALE, DNNL_ARG_SHIFT};
  for (size_t k = 0; k < 2; ++k) {
    std::vector<float> values(static_cast<size_t>(inner), k == 0 ? 1.0f : 0.0f);
    if (n.inputs.size() > k + 1 && !n.inputs[k + 1].empty()) {
      Result<const Constant*> c = FloatConstant(n, k + 1, names[k]);
      if (!c.ok()) return c.status();
      if ((*c)->size() != inner && (*c)->size() != 1) {
        return NodeError(n, fmt::format("its {} has shape {} for normalised shape {}", names[k],
                                        (*c)->dims, Dims(x.dims.begin() + axis, x.dims.end())));
      }
      for (size_t e = 0; e < values.size(); ++e)
        values[e] = (*c)->floats[(*c)->size() == 1 ? 0 : e];
    }
    args[roles[k]] = Weights(memory::desc({inner}, kF32, Tag::a), {inner}, Tag::a, values);
  }
  const memory src = View(x, flat);
  const dnnl::layer_normalization_forward::primitive_desc pd(
      dnnl::layer_normalization_forward::desc(
          dnnl::prop_kind::forward_inference, src.get_desc(), n.Float("epsilon", 1e-5f),
          dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift),
      engine_);
  memory dst(PlainDesc(flat), engine_);
  args[DNNL_ARG_SRC] = src;
  args[DNNL_ARG_DST] = dst;
  AddStep(dnnl::layer_normalization_forward(pd), std::move(args));
  Value out{dst, flat, {}, {}};
  out.mem = View(out, x.dims);
  out.dims = x.dims;
  values_[n.outputs[0]] = out;
  return Status::Ok();
}

}  // namespace kiln::inference
