// PlanCompiler's operators that move data without arithmetic: Reshape, Flatten, Squeeze and
// Unsqueeze (views), Transpose, Concat, Slice, Split, Gather (one constant index, or rows
// of a constant table by computed ids: embeddings), Pad,
// and Shape of a computed value. Each is a reorder (or a view) in oneDNN terms.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "inference/plan_compiler.h"

namespace kiln::inference {

Status PlanCompiler::Reshape(size_t i) {
  const Node& n = node(i);
  Result<Value*> xr = Data(n, 0);
  if (!xr.ok()) return xr.status();
  Value& x = **xr;
  Result<Dims> target = ReshapedDims(n, x.dims);
  if (!target.ok()) return target.status();
  Value out;
  out.dims = *target;
  if (x.flat_source) {
    out = x;
    out.dims = *target;
    if (target->size() != 2 || (*target)[0] != x.source_dims[0]) Plain(out);
  } else if (n.op_type == "Flatten" && x.dims.size() == 4 && target->size() == 2 &&
             (*target)[0] == x.dims[0]) {
    // A Gemm reads the 4-D value in its own layout; anything else makes it plain.
    out.flat_source = x.mem;
    out.source_dims = x.dims;
  } else {
    out.mem = View(x, *target);
  }
  values_[n.outputs[0]] = out;
  return Status::Ok();
}

memory PlanCompiler::View(Value& x, const Dims& dims) { return Alias(Plain(x), PlainDesc(dims)); }

memory PlanCompiler::Alias(const memory& base, const memory::desc& desc) {
  memory alias(desc, engine_, base.get_data_handle());
  if (const auto it = input_index_.find(base.get()); it != input_index_.end()) {
    // An input (or a view of one), bound when it runs; a view of this view is one too.
    const size_t input = it->second;
    plan_.input_aliases_.emplace_back(input, alias);
    input_index_[alias.get()] = input;
  } else {
    plan_.keep_alive_.push_back(base);
  }
  return alias;
}

Status PlanCompiler::Shape(size_t i) {
  const Node& n = node(i);
  Result<Value*> x = Data(n, 0);
  if (!x.ok()) return x.status();
  const int64_t rank = static_cast<int64_t>((*x)->dims.size());
  int64_t start = n.Int("start", 0), end = n.Int("end", rank);
  start = std::clamp<int64_t>(start < 0 ? start + rank : start, 0, rank);
  end = std::clamp<int64_t>(end < 0 ? end + rank : end, start, rank);
  Constant out;
  out.ints.assign((*x)->dims.begin() + start, (*x)->dims.begin() + end);
  out.dims = {end - start};
  computed_[n.outputs[0]] = std::move(out);
  return Status::Ok();
}

Status PlanCompiler::Transpose(size_t i) {
  const Node& n = node(i);
  Result<Value*> xr = Data(n, 0);
  if (!xr.ok()) return xr.status();
  Value& x = **xr;
  const size_t rank = x.dims.size();
  std::vector<int64_t> perm = n.Ints("perm", {});
  if (perm.empty()) {
    for (size_t d = rank; d-- > 0;) perm.push_back(static_cast<int64_t>(d));
  }
  std::vector<int> axes;
  Dims dims;
  for (const int64_t p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(rank) || std::count(perm.begin(), perm.end(), p) != 1 ||
        perm.size() != rank) {
      return NodeError(n, fmt::format("perm {} is not a permutation of {} axes", perm, rank));
    }
    dims.push_back(x.dims[static_cast<size_t>(p)]);
    axes.push_back(static_cast<int>(p));
  }
  // The output in plain layout, described over the input's axes: a reorder into it moves
  // each element to its transposed place.
  memory out(PlainDesc(dims), engine_);
  const memory::desc scattered = PlainDesc(dims).permute_axes(axes);
  const memory src = x.flat_source ? Plain(x) : x.mem;
  const memory to(scattered, engine_, out.get_data_handle());
  plan_.keep_alive_.push_back(out);  // `to` writes its buffer, whoever reads it
  AddStep(dnnl::reorder(src, to), {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, to}});
  values_[n.outputs[0]] = Value{out, dims, {}, {}};
  return Status::Ok();
}

memory PlanCompiler::Operand(const Node& n, size_t input, const Dims& like) {
  if (const Constant* c = FindConstant(n.inputs[input])) {
    std::vector<float> floats =
        c->is_float ? c->floats : std::vector<float>(c->ints.begin(), c->ints.end());
    Dims dims = c->dims;
    if (dims.size() < like.size()) dims.insert(dims.begin(), like.size() - dims.size(), 1);
    return Weights(PlainDesc(dims), dims, PlainTag(dims.size()), floats);
  }
  Value& v = values_.at(n.inputs[input]);
  return v.flat_source ? Plain(v) : v.mem;
}

Status PlanCompiler::Concat(size_t i) {
  const Node& n = node(i);
  Dims dims;
  std::vector<memory> sources;
  int64_t axis = n.Int("axis", 0);
  for (size_t k = 0; k < n.inputs.size(); ++k) {
    Dims part;
    if (const Constant* c = FindConstant(n.inputs[k])) {
      part = c->dims;
    } else {
      Result<Value*> v = Data(n, k);
      if (!v.ok()) return v.status();
      part = (*v)->dims;
    }
    if (k == 0) {
      dims = part;
      if (axis < 0) axis += static_cast<int64_t>(dims.size());
      if (axis < 0 || axis >= static_cast<int64_t>(dims.size()))
        return NodeError(n, "axis out of range");
      dims[axis] = 0;
    }
    Dims rest = part, expected = dims;
    if (rest.size() == dims.size()) rest[axis] = expected[axis] = 0;
    if (rest != expected) {
      return NodeError(n, fmt::format("input {} has shape {}, which does not concatenate with "
                                      "input 0 along axis {}",
                                      k, part, axis));
    }
    dims[axis] += part[axis];
    if (part[axis] > 0) sources.push_back(Operand(n, k, dims));
  }
  std::vector<memory::desc> descs;
  for (const memory& source : sources) descs.push_back(source.get_desc());
  const dnnl::concat::primitive_desc pd(memory::desc(dims, kF32, Tag::any), static_cast<int>(axis),
                                        descs, engine_);
  memory dst(pd.dst_desc(), engine_);
  std::unordered_map<int, memory> args = {{DNNL_ARG_DST, dst}};
  for (size_t k = 0; k < sources.size(); ++k)
    args[DNNL_ARG_MULTIPLE_SRC + static_cast<int>(k)] = sources[k];
  AddStep(dnnl::concat(pd), std::move(args));
  values_[n.outputs[0]] = Value{dst, dims, {}, {}};
  return Status::Ok();
}

memory PlanCompiler::Strided(Value& x, const SliceSpec& spec) {
  // A view of the plain input: the slice's dims at its starts, strides times the steps.
  memory::desc view = PlainDesc(x.dims).submemory_desc(spec.dims, spec.starts);
  for (size_t d = 0; d < spec.dims.size(); ++d)
    view.data.format_desc.blocking.strides[d] *= spec.steps[d];
  const memory from = Alias(Plain(x), view);
  memory out(PlainDesc(spec.dims), engine_);
  AddStep(dnnl::reorder(from, out), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, out}});
  return out;
}

Status PlanCompiler::Slice(size_t i) {
  const Node& n = node(i);
  Result<Value*> xr = Data(n, 0);
  if (!xr.ok()) return xr.status();
  Value& x = **xr;
  Result<SliceSpec> spec = SliceOf(n, x.dims);
  if (!spec.ok()) return spec.status();
  for (const int64_t step : spec->steps) {
    if (step < 1) return NodeError(n, "a negative step (a reversal) is not supported");
  }
  if (Product(spec->dims) == 0) return NodeError(n, "its output would be empty");
  values_[n.outputs[0]] = Value{Strided(x, *spec), spec->dims, {}, {}};
  return Status::Ok();
}

Status PlanCompiler::Split(size_t i) {
  const Node& n = node(i);
  Result<Value*> xr = Data(n, 0);
  if (!xr.ok()) return xr.status();
  Value& x = **xr;
  int64_t axis = n.Int("axis", 0);
  if (axis < 0) axis += static_cast<int64_t>(x.dims.size());
  if (axis < 0 || axis >= static_cast<int64_t>(x.dims.size()))
    return NodeError(n, "axis out of range");
  std::vector<int64_t> sizes = n.Ints("split", {});
  if (n.inputs.size() > 1 && !n.inputs[1].empty()) {
    const Constant* c = FindConstant(n.inputs[1]);
    if (c == nullptr || c->is_float)
      return NodeError(n, "its split sizes must be integer constants");
    sizes = c->ints;
  }
  const int64_t parts = static_cast<int64_t>(n.outputs.size());
  if (sizes.empty()) {
    const int64_t each = (x.dims[axis] + parts - 1) / parts;
    for (int64_t p = 0; p < parts; ++p) sizes.push_back(std::min(each, x.dims[axis] - p * each));
  }
  if (static_cast<int64_t>(sizes.size()) != parts)
    return NodeError(n, "its split sizes do not match its outputs");
  int64_t start = 0;
  for (int64_t p = 0; p < parts; ++p) {
    SliceSpec spec{x.dims, Dims(x.dims.size(), 0), Dims(x.dims.size(), 1)};
    spec.dims[axis] = sizes[p];
    spec.starts[axis] = start;
    start += sizes[p];
    if (start > x.dims[axis] || sizes[p] < 1)
      return NodeError(n, "its split sizes do not fit the input");
    values_[n.outputs[p]] = Value{Strided(x, spec), spec.dims, {}, {}};
  }
  return Status::Ok();
}

Status PlanCompiler::GatherData(size_t i) {
  const Node& n = node(i);
  if (const Constant* table = FindConstant(n.inputs[0]); table != nullptr && n.inputs.size() == 2) {
    return Embedding(i, *table);
  }
  Result<Value*> xr = Data(n, 0);
  if (!xr.ok()) return xr.status();
  Value& x = **xr;
  const Constant* indices = n.inputs.size() > 1 ? FindConstant(n.inputs[1]) : nullptr;
  int64_t axis = n.Int("axis", 0);
  if (axis < 0) axis += static_cast<int64_t>(x.dims.size());
  if (indices == nullptr || indices->is_float || indices->size() != 1 || axis < 0 ||
      axis >= static_cast<int64_t>(x.dims.size())) {
    return NodeError(n, "Kiln's engine gathers one constant index along an axis of computed data");
  }
  int64_t index = indices->ints[0];
  if (index < 0) index += x.dims[axis];
  if (index < 0 || index >= x.dims[axis]) return NodeError(n, "its index is out of range");
  SliceSpec spec{x.dims, Dims(x.dims.size(), 0), Dims(x.dims.size(), 1)};
  spec.dims[axis] = 1;
  spec.starts[axis] = index;
  Value out{Strided(x, spec), spec.dims, {}, {}};
  Dims dims = x.dims;
  dims.erase(dims.begin() + axis);
  dims.insert(dims.begin() + axis, indices->dims.begin(), indices->dims.end());
  out.mem = View(out, dims);
  out.dims = dims;
  values_[n.outputs[0]] = out;
  return Status::Ok();
}

Status PlanCompiler::Embedding(size_t i, const Constant& table) {
  const Node& n = node(i);
  Result<Value*> ir = Data(n, 1);
  if (!ir.ok()) return ir.status();
  Value& ids = **ir;
  if (!table.is_float || table.dims.empty() || n.Int("axis", 0) != 0) {
    return NodeError(n, "Kiln's engine gathers rows (axis 0) of a float table by computed ids");
  }
  // Rows of the table by the ids (carried as float32, exact integers): a step of the plan's
  // own, oneDNN having no gather.
  const int64_t rows = table.dims[0];
  const int64_t width = Product(table.dims, 1);
  Dims dims = ids.dims;
  dims.insert(dims.end(), table.dims.begin() + 1, table.dims.end());
  const memory index = Plain(ids);
  memory out(PlainDesc(dims), engine_);
  // A table of the file stays with the engine's graph, which outlives its plans; a folded
  // one (computed while compiling) is kept by the step.
  std::shared_ptr<const std::vector<float>> kept;
  if (graph_.constants.count(n.inputs[0]) == 0) {
    kept = std::make_shared<const std::vector<float>>(table.floats);
  }
  const float* from = kept ? kept->data() : table.floats.data();
  const int64_t count = Product(ids.dims);
  // Said to whoever sent the ids (a client of kiln serve), so without the model's path.
  const std::string where = fmt::format("node '{}' ({})", n.name, n.op_type);
  plan_.steps_.push_back({{}, {}, [index, out, from, kept, rows, width, count, where]() -> Status {
                            const float* id = static_cast<const float*>(index.get_data_handle());
                            float* to = static_cast<float*>(out.get_data_handle());
                            for (int64_t e = 0; e < count; ++e) {
                              int64_t row = static_cast<int64_t>(id[e]);
                              if (row < 0) row += rows;
                              if (row < 0 || row >= rows) {
                                return InvalidArgumentError(
                                    fmt::format("{}: index {} is outside the table's {} rows",
                                                where, static_cast<int64_t>(id[e]), rows));
                              }
                              std::memcpy(to + e * width, from + row * width,
                                          static_cast<size_t>(width) * sizeof(float));
                            }
                            return Status::Ok();
                          }});
  values_[n.outputs[0]] = Value{out, dims, {}, {}};
  return Status::Ok();
}

Status PlanCompiler::Pad(size_t i) {
  const Node& n = node(i);
  Result<Value*> xr = Data(n, 0);
  if (!xr.ok()) return xr.status();
  Value& x = **xr;
  if (n.String("mode", "constant") != "constant") {
    return NodeError(n,
                     fmt::format("mode '{}' is not supported (constant is)", n.String("mode", "")));
  }
  std::vector<int64_t> pads = n.Ints("pads", {});
  float value = n.Float("value", 0.0f);
  if (n.inputs.size() > 1 && !n.inputs[1].empty()) {
    const Constant* c = FindConstant(n.inputs[1]);
    if (c == nullptr || c->is_float) return NodeError(n, "its pads must be integer constants");
    pads = c->ints;
  }
  if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
    const Constant* c = FindConstant(n.inputs[2]);
    if (c == nullptr || c->size() != 1)
      return NodeError(n, "its constant_value must be a scalar constant");
    value = c->is_float ? c->floats[0] : static_cast<float>(c->ints[0]);
  }
  const size_t rank = x.dims.size();
  if (pads.size() != 2 * rank)
    return NodeError(n, fmt::format("pads has {} values for {} axes", pads.size(), rank));
  Dims dims = x.dims, offsets(rank);
  for (size_t d = 0; d < rank; ++d) {
    if (pads[d] < 0 || pads[rank + d] < 0)
      return NodeError(n, "negative pads (cropping) are not supported");
    dims[d] += pads[d] + pads[rank + d];
    offsets[d] = pads[d];
  }
  // The border is written once, here; each run writes the inside.
  memory out(PlainDesc(dims), engine_);
  float* data = static_cast<float*>(out.get_data_handle());
  std::fill(data, data + Product(dims), value);
  const memory inside(PlainDesc(dims).submemory_desc(x.dims, offsets), engine_,
                      out.get_data_handle());
  plan_.keep_alive_.push_back(out);  // `inside` writes its buffer, whoever reads it
  const memory src = x.flat_source ? Plain(x) : x.mem;
  AddStep(dnnl::reorder(src, inside), {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, inside}});
  values_[n.outputs[0]] = Value{out, dims, {}, {}};
  return Status::Ok();
}

}  // namespace kiln::inference
