// PlanCompiler's tensor operations: binary element-wise ops, Where and softmax.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cfloat>

#include "inference/plan_compiler.h"

namespace kiln::inference {

Status PlanCompiler::Binary(size_t i) {
  const Node& n = node(i);
  if (n.inputs.size() != 2) return NodeError(n, "needs two inputs");
  if (n.op_type == "Div") {  // GELU starts with one
    if (std::optional<ActivationMatch> m = MatchActivation(n.inputs[0], /*exclusive=*/false, i)) {
      return EmitActivation(i, *m);
    }
  }
  Dims in_dims[2];
  for (size_t k = 0; k < 2; ++k) {
    if (const Constant* c = FindConstant(n.inputs[k])) {
      in_dims[k] = c->dims;
    } else {
      Result<Value*> v = Data(n, k);
      if (!v.ok()) return v.status();
      in_dims[k] = (*v)->dims;
    }
  }
  Dims dims;
  if (!BroadcastShape(in_dims[0], in_dims[1], &dims)) {
    return NodeError(n, fmt::format("{} and {} do not broadcast", in_dims[0], in_dims[1]));
  }
  // oneDNN broadcasts its second source only: the first must have the output's shape.
  const auto full = [&](size_t k) {
    Dims padded(dims.size() - in_dims[k].size(), 1);
    padded.insert(padded.end(), in_dims[k].begin(), in_dims[k].end());
    return padded == dims;
  };
  size_t first = 0;
  if (!full(0) || (FindConstant(n.inputs[0]) != nullptr && full(1))) first = 1;
  if (!full(first)) {
    return NodeError(n, fmt::format("{} and {} both broadcast, which Kiln's engine does not run",
                                    in_dims[0], in_dims[1]));
  }
  const size_t second = 1 - first;
  const auto operand = [&](size_t k, bool exact) -> memory {
    if (FindConstant(n.inputs[k]) != nullptr) return Operand(n, k, dims);
    Value& v = values_.at(n.inputs[k]);
    if (v.dims.size() == dims.size()) {
      // A layout equal to plain but for the strides of size-1 dimensions is read as plain
      // (an alias): oneDNN's desc equality overlooks them, so the other operand would not
      // be reordered to match, and the kernel would be the reference one.
      const bool as_plain = !v.flat_source && IsPermuted(v.mem.get_desc()) &&
                            SameBytesAsPlain(v.mem.get_desc(), v.dims);
      return exact && !v.flat_source && !as_plain ? v.mem : Plain(v);
    }
    Dims padded(dims.size() - v.dims.size(), 1);
    padded.insert(padded.end(), v.dims.begin(), v.dims.end());
    return View(v, padded);
  };
  const memory src0 = operand(first, true);
  memory src1 = operand(second, in_dims[second] == dims);
  if (in_dims[second] == dims && src1.get_desc() != src0.get_desc())
    src1 = Reorder(src1, src0.get_desc());
  dnnl::algorithm algorithm = n.op_type == "Add"   ? dnnl::algorithm::binary_add
                              : n.op_type == "Sub" ? dnnl::algorithm::binary_sub
                              : n.op_type == "Mul" ? dnnl::algorithm::binary_mul
                                                   : dnnl::algorithm::binary_div;
  dnnl::post_ops ops;
  memory divisor = src0;
  if (first == 1 && n.op_type == "Sub") {  // a - b = -(b - a)
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_linear, -1.0f, 0.0f);
  } else if (first == 1 && n.op_type == "Div") {  // a / b = (1 / b) * a
    const dnnl::eltwise_forward::primitive_desc reciprocal(
        dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference,
                                    dnnl::algorithm::eltwise_pow, src0.get_desc(), 1.0f, -1.0f),
        engine_);
    divisor = memory(reciprocal.dst_desc(), engine_);
    AddStep(dnnl::eltwise_forward(reciprocal), {{DNNL_ARG_SRC, src0}, {DNNL_ARG_DST, divisor}});
    algorithm = dnnl::algorithm::binary_mul;
  }
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  std::string output = n.outputs[0];
  KILN_RETURN_IF_ERROR(FuseActivation(&output, &attr));  // a Relu after a residual Add
  const dnnl::binary::primitive_desc pd(
      dnnl::binary::desc(algorithm, divisor.get_desc(), src1.get_desc(), divisor.get_desc()), attr,
      engine_);
  memory dst(pd.dst_desc(), engine_);
  AddStep(dnnl::binary(pd),
          {{DNNL_ARG_SRC_0, divisor}, {DNNL_ARG_SRC_1, src1}, {DNNL_ARG_DST, dst}});
  values_[output] = Value{dst, dims, {}, {}};
  return Status::Ok();
}

Status PlanCompiler::Where(size_t i) {
  const Node& n = node(i);
  const Constant* condition = n.inputs.size() == 3 ? FindConstant(n.inputs[0]) : nullptr;
  if (condition == nullptr) {
    return NodeError(n, "its condition must be a constant or computed from shapes (a mask)");
  }
  // Where(c, a, b) = a * c + b * (1 - c), each product a step (or a constant) of its own.
  Dims dims = condition->dims;
  for (size_t k = 1; k < 3; ++k) {
    const Constant* c = FindConstant(n.inputs[k]);
    Dims branch;
    if (c != nullptr) {
      branch = c->dims;
    } else {
      Result<Value*> v = Data(n, k);
      if (!v.ok()) return v.status();
      branch = (*v)->dims;
    }
    if (!BroadcastShape(Dims(dims), branch, &dims))
      return NodeError(n, "its inputs do not broadcast");
  }
  std::optional<memory> sum;
  Constant fill;  // the constant branches' part, broadcast to the output
  fill.is_float = true;
  fill.dims = dims;
  fill.floats.assign(static_cast<size_t>(Product(dims)), 0.0f);
  const std::vector<size_t> at_condition = BroadcastIndex(condition->dims, dims);
  const auto selected = [&](size_t k, size_t e) {
    const bool c = (condition->is_float ? condition->floats[at_condition[e]] != 0
                                        : condition->ints[at_condition[e]] != 0);
    return k == 1 ? c : !c;
  };
  for (size_t k = 1; k < 3; ++k) {
    if (const Constant* c = FindConstant(n.inputs[k])) {
      const std::vector<size_t> at = BroadcastIndex(c->dims, dims);
      for (size_t e = 0; e < fill.floats.size(); ++e) {
        // Infinities (-inf masks) become the largest finite value: inf * 0 would be NaN.
        const float v = c->is_float ? c->floats[at[e]] : static_cast<float>(c->ints[at[e]]);
        if (selected(k, e)) fill.floats[e] = std::clamp(v, -FLT_MAX, FLT_MAX);
      }
      continue;
    }
    Value& v = values_.at(n.inputs[k]);
    if (Product(v.dims) != Product(dims)) {
      return NodeError(n,
                       fmt::format("a computed branch of shape {} would be broadcast to {}; Kiln's "
                                   "engine takes branches of the output's shape",
                                   v.dims, dims));
    }
    std::vector<float> keep(fill.floats.size());
    for (size_t e = 0; e < keep.size(); ++e) keep[e] = selected(k, e) ? 1.0f : 0.0f;
    const memory src = View(v, dims);
    const memory mask = Weights(PlainDesc(dims), dims, PlainTag(dims.size()), keep);
    dnnl::post_ops ops;
    std::unordered_map<int, memory> args = {{DNNL_ARG_SRC_0, src}, {DNNL_ARG_SRC_1, mask}};
    if (sum) {  // add the other branch's product
      ops.append_binary(dnnl::algorithm::binary_add, PlainDesc(dims));
      args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] = *sum;
    }
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    const dnnl::binary::primitive_desc pd(
        dnnl::binary::desc(dnnl::algorithm::binary_mul, src.get_desc(), mask.get_desc(),
                           PlainDesc(dims)),
        attr, engine_);
    memory dst(pd.dst_desc(), engine_);
    args[DNNL_ARG_DST] = dst;
    AddStep(dnnl::binary(pd), std::move(args));
    sum = dst;
  }
  if (!sum) return NodeError(n, "has no computed input");  // folded otherwise
  if (std::all_of(fill.floats.begin(), fill.floats.end(), [](float v) { return v == 0; })) {
    values_[n.outputs[0]] = Value{*sum, dims, {}, {}};
    return Status::Ok();
  }
  const memory constants = Weights(PlainDesc(dims), dims, PlainTag(dims.size()), fill.floats);
  const dnnl::binary::primitive_desc pd(
      dnnl::binary::desc(dnnl::algorithm::binary_add, sum->get_desc(), constants.get_desc(),
                         PlainDesc(dims)),
      engine_);
  memory dst(pd.dst_desc(), engine_);
  AddStep(dnnl::binary(pd),
          {{DNNL_ARG_SRC_0, *sum}, {DNNL_ARG_SRC_1, constants}, {DNNL_ARG_DST, dst}});
  values_[n.outputs[0]] = Value{dst, dims, {}, {}};
  return Status::Ok();
}

Status PlanCompiler::Softmax(size_t i) {
  const Node& n = node(i);
  Result<Value*> xr = Data(n, 0);
  if (!xr.ok()) return xr.status();
  Value& x = **xr;
  const int64_t rank = static_cast<int64_t>(x.dims.size());
  int64_t axis = n.Int("axis", graph_.opset >= 13 ? -1 : 1);
  if (axis < 0) axis += rank;
  // Before opset 13 the input is coerced to 2-D at `axis`: the same as a last-axis softmax
  // only when axis is the last one.
  if (axis < 0 || axis >= rank || (graph_.opset < 13 && axis != rank - 1)) {
    return NodeError(n, fmt::format("axis {} of a {}-D input is not supported (the last axis is)",
                                    n.Int("axis", 0), rank));
  }
  const memory src = Plain(x);
  memory dst(src.get_desc(), engine_);
  if (n.op_type == "Softmax") {
    const dnnl::softmax_forward::primitive_desc pd(
        dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, src.get_desc(),
                                    static_cast<int>(axis)),
        engine_);
    AddStep(dnnl::softmax_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
  } else {
    const dnnl::logsoftmax_forward::primitive_desc pd(
        dnnl::logsoftmax_forward::desc(dnnl::prop_kind::forward_inference, src.get_desc(),
                                       static_cast<int>(axis)),
        engine_);
    AddStep(dnnl::logsoftmax_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
  }
  values_[n.outputs[0]] = Value{dst, x.dims, {}, {}};
  return Status::Ok();
}

}  // namespace kiln::inference
