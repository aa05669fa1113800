// PlanCompiler's tensor operations: activations on their own, binary element-wise ops,
// softmax, Flatten and Reshape, and shape arithmetic on integer constants.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "inference/plan_compiler.h"

namespace kiln::inference {

Status PlanCompiler::Eltwise(size_t i) {
  const Node& n = node(i);
  Result<Value*> xr = Data(n, 0);
  if (!xr.ok()) return xr.status();
  Result<Activation> activation = ActivationOf(n);
  if (!activation.ok()) return activation.status();
  Value& x = **xr;
  const memory src = x.flat_source ? Plain(x) : x.mem;
  const dnnl::eltwise_forward::primitive_desc pd(
      dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, activation->algorithm,
                                  src.get_desc(), activation->alpha, activation->beta),
      engine_);
  memory dst(pd.dst_desc(), engine_);
  AddStep(dnnl::eltwise_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
  values_[n.outputs[0]] = Value{dst, x.dims, {}, {}};
  return Status::Ok();
}

Status PlanCompiler::Binary(size_t i) {
  const Node& n = node(i);
  if (n.inputs.size() != 2) return NodeError(n, "needs two inputs");
  const bool commutes = n.op_type == "Add" || n.op_type == "Mul";
  size_t data = 0, other = 1;
  if (values_.count(n.inputs[0]) == 0 && commutes) std::swap(data, other);
  Result<Value*> ar = Data(n, data);
  if (!ar.ok()) return ar.status();
  Value& a = **ar;
  const memory src0 = a.flat_source ? Plain(a) : a.mem;
  const size_t rank = a.dims.size();
  memory src1;
  if (const Constant* c = FindConstant(n.inputs[other])) {
    if (!c->is_float || c->dims.size() > rank)
      return NodeError(n, "its constant does not broadcast");
    Dims dims(rank - c->dims.size(), 1);
    dims.insert(dims.end(), c->dims.begin(), c->dims.end());
    for (size_t d = 0; d < rank; ++d) {
      if (dims[d] != 1 && dims[d] != a.dims[d]) {
        return NodeError(n, fmt::format("constant {} does not broadcast to {}", c->dims, a.dims));
      }
    }
    src1 = Weights(PlainDesc(dims), dims, PlainTag(rank), c->floats);
  } else {
    Result<Value*> br = Data(n, other);
    if (!br.ok()) return br.status();
    Value& b = **br;
    if (b.dims.size() != rank) return NodeError(n, "its inputs differ in rank");
    for (size_t d = 0; d < rank; ++d) {
      if (b.dims[d] != 1 && b.dims[d] != a.dims[d]) {
        return NodeError(n, fmt::format("{} does not broadcast to {}", b.dims, a.dims));
      }
    }
    src1 = b.flat_source ? Plain(b) : b.mem;
    if (b.dims == a.dims && src1.get_desc() != src0.get_desc())
      src1 = Reorder(src1, src0.get_desc());
    else if (b.dims != a.dims)
      src1 = Plain(b);
  }
  const dnnl::algorithm algorithm = n.op_type == "Add"   ? dnnl::algorithm::binary_add
                                    : n.op_type == "Sub" ? dnnl::algorithm::binary_sub
                                    : n.op_type == "Mul" ? dnnl::algorithm::binary_mul
                                                         : dnnl::algorithm::binary_div;
  const dnnl::binary::primitive_desc pd(
      dnnl::binary::desc(algorithm, src0.get_desc(), src1.get_desc(), src0.get_desc()), engine_);
  memory dst(pd.dst_desc(), engine_);
  AddStep(dnnl::binary(pd), {{DNNL_ARG_SRC_0, src0}, {DNNL_ARG_SRC_1, src1}, {DNNL_ARG_DST, dst}});
  values_[n.outputs[0]] = Value{dst, a.dims, {}, {}};
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

Status PlanCompiler::Reshape(size_t i) {
  const Node& n = node(i);
  Result<Value*> xr = Data(n, 0);
  if (!xr.ok()) return xr.status();
  Value& x = **xr;
  Dims target;
  if (n.op_type == "Flatten") {
    int64_t axis = n.Int("axis", 1);
    if (axis < 0) axis += static_cast<int64_t>(x.dims.size());
    if (axis < 0 || axis > static_cast<int64_t>(x.dims.size()))
      return NodeError(n, "axis out of range");
    const int64_t outer = Product(Dims(x.dims.begin(), x.dims.begin() + axis));
    target = {outer, Product(x.dims, static_cast<size_t>(axis))};
  } else {
    const Constant* shape = n.inputs.size() == 2 ? FindConstant(n.inputs[1]) : nullptr;
    if (shape == nullptr || shape->is_float) {
      return NodeError(n,
                       "its shape must be a constant or computed from shapes (export with "
                       "a fixed shape, or use torch.flatten)");
    }
    int64_t known = 1;
    std::optional<size_t> inferred;
    for (size_t d = 0; d < shape->ints.size(); ++d) {
      int64_t v = shape->ints[d];
      if (v == 0 && n.Int("allowzero", 0) == 0) v = d < x.dims.size() ? x.dims[d] : 0;
      if (v == -1) {
        inferred = d;
      } else {
        known *= v;
      }
      target.push_back(v);
    }
    if (inferred) {
      if (known == 0 || Product(x.dims) % known != 0)
        return NodeError(n, "its shape does not fit the input");
      target[*inferred] = Product(x.dims) / known;
    }
  }
  if (Product(target) != Product(x.dims)) {
    return NodeError(n, fmt::format("cannot reshape {} to {}", x.dims, target));
  }
  // For batch-major shapes the batch is the model's: a constant shape naming a batch size
  // must match this plan's.
  Value out;
  out.dims = target;
  if (x.flat_source) {
    out = x;
    out.dims = target;
    if (target.size() != 2 || target[0] != x.source_dims[0]) Plain(out);
  } else if (x.dims.size() == 4 && target.size() == 2 && target[0] == x.dims[0]) {
    out.flat_source = x.mem;
    out.source_dims = x.dims;
  } else {
    const memory plain = Plain(x);
    out.mem = memory(PlainDesc(target), engine_, plain.get_data_handle());
    plan_.keep_alive_.push_back(plain);
  }
  values_[n.outputs[0]] = out;
  return Status::Ok();
}

Status PlanCompiler::ShapeArithmetic(size_t i) {
  const Node& n = node(i);
  const auto ints_of = [&](size_t input) -> const Constant* {
    const Constant* c = input < n.inputs.size() ? FindConstant(n.inputs[input]) : nullptr;
    return c != nullptr && !c->is_float ? c : nullptr;
  };
  Constant out;
  if (n.op_type == "Shape") {
    Result<Value*> x = Data(n, 0);
    if (!x.ok()) return x.status();
    const int64_t rank = static_cast<int64_t>((*x)->dims.size());
    int64_t start = n.Int("start", 0), end = n.Int("end", rank);
    if (start < 0) start += rank;
    if (end < 0) end += rank;
    start = std::clamp<int64_t>(start, 0, rank);
    end = std::clamp<int64_t>(end, start, rank);
    out.ints.assign((*x)->dims.begin() + start, (*x)->dims.begin() + end);
    out.dims = {static_cast<int64_t>(out.ints.size())};
  } else {
    const Constant* a = ints_of(0);
    if (a == nullptr) {
      return NodeError(n,
                       "Kiln's engine runs this operator on integer constants and shapes "
                       "only, not on computed data");
    }
    if (n.op_type == "Gather") {
      const Constant* indices = ints_of(1);
      if (indices == nullptr || a->dims.size() != 1 || n.Int("axis", 0) != 0) {
        return NodeError(n, "only a gather from a 1-D shape with constant indices is supported");
      }
      for (int64_t index : indices->ints) {
        if (index < 0) index += a->size();
        if (index < 0 || index >= a->size()) return NodeError(n, "an index is out of range");
        out.ints.push_back(a->ints[static_cast<size_t>(index)]);
      }
      out.dims = indices->dims;
    } else if (n.op_type == "Unsqueeze" || n.op_type == "Squeeze") {
      const Constant* axes_input = ints_of(1);
      std::vector<int64_t> axes = axes_input != nullptr ? axes_input->ints : n.Ints("axes", {});
      out.ints = a->ints;
      out.dims = a->dims;
      if (n.op_type == "Unsqueeze") {
        const int64_t rank = static_cast<int64_t>(a->dims.size() + axes.size());
        for (int64_t& axis : axes) axis = axis < 0 ? axis + rank : axis;
        std::sort(axes.begin(), axes.end());
        for (const int64_t axis : axes) {
          if (axis < 0 || axis > static_cast<int64_t>(out.dims.size()))
            return NodeError(n, "axis out of range");
          out.dims.insert(out.dims.begin() + axis, 1);
        }
      } else {
        std::vector<int64_t> kept;
        for (size_t d = 0; d < out.dims.size(); ++d) {
          const bool listed =
              std::find(axes.begin(), axes.end(), static_cast<int64_t>(d)) != axes.end() ||
              std::find(axes.begin(), axes.end(),
                        static_cast<int64_t>(d) - static_cast<int64_t>(out.dims.size())) !=
                  axes.end();
          if (!(axes.empty() ? out.dims[d] == 1 : listed)) kept.push_back(out.dims[d]);
        }
        out.dims = kept;
      }
    } else if (n.op_type == "Concat") {
      for (size_t input = 0; input < n.inputs.size(); ++input) {
        const Constant* part = ints_of(input);
        if (part == nullptr || part->dims.size() != 1) {
          return NodeError(n, "only a concatenation of 1-D integer constants is supported");
        }
        out.ints.insert(out.ints.end(), part->ints.begin(), part->ints.end());
      }
      out.dims = {static_cast<int64_t>(out.ints.size())};
    } else {  // Cast
      const int64_t to = n.Int("to", 0);
      if (to != 6 && to != 7)
        return NodeError(n, "only casts of shapes to int32 or int64 are supported");
      out = *a;
    }
  }
  computed_[n.outputs[0]] = std::move(out);
  return Status::Ok();
}

}  // namespace kiln::inference
