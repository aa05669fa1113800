// PlanCompiler's reductions (ReduceMean, ReduceSum, ReduceMax, ReduceMin) and
// LayerNormalization (opset 17, or the nodes earlier opsets write for it), as oneDNN
// reduction and layer normalization primitives.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "inference/plan_compiler.h"

namespace kiln::inference {

Status PlanCompiler::Reduce(size_t i) {
  const Node& n = node(i);
  if (n.op_type == "ReduceMean") {
    Result<bool> fused = DecomposedLayerNorm(i);
    if (!fused.ok() || *fused) return fused.status();
  }
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
  const Constant* affine[2] = {nullptr, nullptr};
  const char* names[2] = {"scale", "bias"};
  for (size_t k = 0; k < 2; ++k) {
    if (n.inputs.size() > k + 1 && !n.inputs[k + 1].empty()) {
      Result<const Constant*> c = FloatConstant(n, k + 1, names[k]);
      if (!c.ok()) return c.status();
      affine[k] = *c;
    }
  }
  return EmitLayerNorm(n, **xr, n.Int("axis", -1), n.Float("epsilon", 1e-5f), affine[0], affine[1],
                       n.outputs[0]);
}

Result<bool> PlanCompiler::DecomposedLayerNorm(size_t i) {
  const Node& mean = node(i);
  if (mean.inputs.size() != 1 || mean.outputs.size() != 1 || mean.Int("keepdims", 1) != 1) {
    return false;
  }
  const auto found = values_.find(mean.inputs[0]);
  if (found == values_.end()) return false;
  const Value* x = &found->second;
  const int64_t rank = static_cast<int64_t>(x->dims.size());
  // A constant that broadcasts no further than x (a higher rank would change the output's).
  const auto within = [&](const std::string& name) {
    const Constant* c = FindConstant(name);
    return c != nullptr && static_cast<int64_t>(c->dims.size()) <= rank;
  };
  const std::vector<int64_t> axes = mean.Ints("axes", {});
  const auto last_axis = [&](const std::vector<int64_t>& a) {
    return a.size() == 1 && (a[0] == -1 || a[0] == rank - 1);
  };
  if (!last_axis(axes)) return false;
  // The one node reading `name` (no graph output), of `op`, reading it as input `at` (any
  // when -1).
  const auto only = [&](const std::string& name, const std::string& op,
                        int at) -> std::optional<size_t> {
    const auto it = consumers_.find(name);
    if (graph_outputs_.count(name) != 0 || it == consumers_.end() || it->second.size() != 1) {
      return std::nullopt;
    }
    const Node& c = node(it->second[0]);
    if (c.op_type != op || c.inputs.size() != 2) return std::nullopt;
    if (at >= 0 && c.inputs[static_cast<size_t>(at)] != name) return std::nullopt;
    return it->second[0];
  };
  const auto other = [&](size_t j, const std::string& name) -> const std::string& {
    return node(j).inputs[0] == name ? node(j).inputs[1] : node(j).inputs[0];
  };
  const std::optional<size_t> sub = only(mean.outputs[0], "Sub", 1);
  if (!sub || node(*sub).inputs[0] != mean.inputs[0]) return false;
  const std::string& centred = node(*sub).outputs[0];
  // The centred value feeds the variance (Pow) and the division.
  const auto readers = consumers_.find(centred);
  if (graph_outputs_.count(centred) != 0 || readers == consumers_.end() ||
      readers->second.size() != 2) {
    return false;
  }
  std::optional<size_t> pow, div;
  for (const size_t j : readers->second) {
    if (node(j).op_type == "Pow" && node(j).inputs.size() == 2 && node(j).inputs[0] == centred &&
        IsScalar(node(j).inputs[1], 2.0f) && within(node(j).inputs[1])) {
      pow = j;
    } else if (node(j).op_type == "Div" && node(j).inputs.size() == 2 &&
               node(j).inputs[0] == centred) {
      div = j;
    }
  }
  if (!pow || !div) return false;
  const std::string& squares = node(*pow).outputs[0];
  const auto square_readers = consumers_.find(squares);
  if (graph_outputs_.count(squares) != 0 || square_readers == consumers_.end() ||
      square_readers->second.size() != 1) {
    return false;
  }
  const size_t variance = square_readers->second[0];
  if (node(variance).op_type != "ReduceMean" || node(variance).inputs.size() != 1 ||
      node(variance).Int("keepdims", 1) != 1 || !last_axis(node(variance).Ints("axes", {}))) {
    return false;
  }
  const std::optional<size_t> add_eps = only(node(variance).outputs[0], "Add", -1);
  if (!add_eps) return false;
  const Constant* eps = FindConstant(other(*add_eps, node(variance).outputs[0]));
  if (eps == nullptr || !eps->is_float || eps->size() != 1 ||
      !within(other(*add_eps, node(variance).outputs[0]))) {
    return false;
  }
  const std::optional<size_t> sqrt = SoleConsumer(node(*add_eps).outputs[0], {"Sqrt"});
  if (!sqrt || only(node(*sqrt).outputs[0], "Div", 1) != div) return false;
  std::vector<size_t> nodes = {*sub, *pow, variance, *add_eps, *sqrt, *div};
  std::string output = node(*div).outputs[0];
  // The affine part: Mul by a scale, then Add of a shift, each a constant of the
  // normalised size (or one value), either operand.
  const int64_t inner = x->dims.back();
  const auto affine = [&](const std::string& op) -> const Constant* {
    const std::optional<size_t> j = only(output, op, -1);
    if (!j) return nullptr;
    const Constant* c = FindConstant(other(*j, output));
    if (c == nullptr || !c->is_float || (c->size() != inner && c->size() != 1) ||
        static_cast<int64_t>(c->dims.size()) > rank ||
        (!c->dims.empty() && c->dims.back() != c->size())) {
      return nullptr;
    }
    nodes.push_back(*j);
    output = node(*j).outputs[0];
    return c;
  };
  const Constant* scale = affine("Mul");
  const Constant* shift = scale != nullptr ? affine("Add") : nullptr;
  KILN_RETURN_IF_ERROR(
      EmitLayerNorm(mean, values_.at(mean.inputs[0]), -1, eps->floats[0], scale, shift, output));
  for (const size_t j : nodes) fused_[j] = true;
  return true;
}

Status PlanCompiler::EmitLayerNorm(const Node& n, Value& x, int64_t axis, float epsilon,
                                   const Constant* scale, const Constant* shift,
                                   const std::string& output) {
  const int64_t rank = static_cast<int64_t>(x.dims.size());
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return NodeError(n, "axis out of range");
  // oneDNN normalises over the last axis: the axes from `axis` on are seen as one.
  const int64_t inner = Product(x.dims, static_cast<size_t>(axis));
  const Dims flat = {Product(Dims(x.dims.begin(), x.dims.begin() + axis)), inner};
  std::unordered_map<int, memory> args;
  const char* names[2] = {"scale", "bias"};
  const Constant* given[2] = {scale, shift};
  const int roles[2] = {DNNL_ARG_SCALE, DNNL_ARG_SHIFT};
  for (size_t k = 0; k < 2; ++k) {
    std::vector<float> values(static_cast<size_t>(inner), k == 0 ? 1.0f : 0.0f);
    if (const Constant* c = given[k]) {
      if (c->size() != inner && c->size() != 1) {
        return NodeError(n, fmt::format("its {} has shape {} for normalised shape {}", names[k],
                                        c->dims, Dims(x.dims.begin() + axis, x.dims.end())));
      }
      for (size_t e = 0; e < values.size(); ++e) values[e] = c->floats[c->size() == 1 ? 0 : e];
    }
    args[roles[k]] = Weights(memory::desc({inner}, kF32, Tag::a), {inner}, Tag::a, values);
  }
  const memory src = View(x, flat);
  const dnnl::layer_normalization_forward::primitive_desc pd(
      dnnl::layer_normalization_forward::desc(
          dnnl::prop_kind::forward_inference, src.get_desc(), epsilon,
          dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift),
      engine_);
  memory dst(PlainDesc(flat), engine_);
  args[DNNL_ARG_SRC] = src;
  args[DNNL_ARG_DST] = dst;
  AddStep(dnnl::layer_normalization_forward(pd), std::move(args));
  Value out{dst, flat, {}, {}};
  out.mem = View(out, x.dims);
  out.dims = x.dims;
  values_[output] = out;
  return Status::Ok();
}

}  // namespace kiln::inference
