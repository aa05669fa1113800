// PlanCompiler's constant folding: a node whose inputs are all constants (of the file, or
// folded before it) is evaluated while compiling, and its outputs become constants. A plan
// is compiled for one batch size, so every shape is known, and what the exporter writes
// as shape arithmetic (Shape, Gather, Div, Concat, Reshape's target, masks built with
// Range, Equal and Where) folds away before anything runs.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "inference/plan_compiler.h"

namespace kiln::inference {
namespace {

// ONNX data types a Cast may name (onnx::TensorProto::DataType).
bool IsIntegerType(int64_t type) {
  return (type >= 2 && type <= 7) || type == 9 || type == 12 || type == 13;
}

double At(const Constant& c, size_t i) {
  return c.is_float ? static_cast<double>(c.floats[i]) : static_cast<double>(c.ints[i]);
}

Constant Filled(Dims dims, bool is_float) {
  Constant out;
  out.dims = std::move(dims);
  out.is_float = is_float;
  if (is_float) {
    out.floats.resize(static_cast<size_t>(out.size()));
  } else {
    out.ints.resize(static_cast<size_t>(out.size()));
  }
  return out;
}

void Set(Constant& c, size_t i, double v) {
  if (c.is_float) {
    c.floats[i] = static_cast<float>(v);
  } else {
    c.ints[i] = static_cast<int64_t>(v);
  }
}

// Copies element `from` of `in` to element `to` of `out` (same kind).
void CopyElement(const Constant& in, size_t from, Constant& out, size_t to) {
  if (in.is_float) {
    out.floats[to] = in.floats[from];
  } else {
    out.ints[to] = in.ints[from];
  }
}

std::function<double(double, double)> BinaryFunction(const std::string& op, bool is_float) {
  if (op == "Add") return std::plus<>();
  if (op == "Sub") return std::minus<>();
  if (op == "Mul") return std::multiplies<>();
  if (op == "Div") {
    if (is_float) return std::divides<>();
    return [](double a, double b) { return b == 0 ? 0.0 : std::trunc(a / b); };
  }
  if (op == "Pow") return [](double a, double b) { return std::pow(a, b); };
  if (op == "Max") return [](double a, double b) { return std::max(a, b); };
  if (op == "Min") return [](double a, double b) { return std::min(a, b); };
  if (op == "Mod") return [](double a, double b) { return b == 0 ? 0.0 : std::fmod(a, b); };
  if (op == "Equal") return [](double a, double b) { return a == b ? 1.0 : 0.0; };
  if (op == "Less") return [](double a, double b) { return a < b ? 1.0 : 0.0; };
  if (op == "Greater") return [](double a, double b) { return a > b ? 1.0 : 0.0; };
  if (op == "And") return [](double a, double b) { return a != 0 && b != 0 ? 1.0 : 0.0; };
  if (op == "Or") return [](double a, double b) { return a != 0 || b != 0 ? 1.0 : 0.0; };
  return nullptr;
}

std::function<double(double)> UnaryFunction(const std::string& op) {
  if (op == "Neg") return [](double a) { return -a; };
  if (op == "Sqrt") return [](double a) { return std::sqrt(a); };
  if (op == "Reciprocal") return [](double a) { return 1.0 / a; };
  if (op == "Abs") return [](double a) { return std::abs(a); };
  if (op == "Floor") return [](double a) { return std::floor(a); };
  if (op == "Ceil") return [](double a) { return std::ceil(a); };
  if (op == "Not") return [](double a) { return a == 0 ? 1.0 : 0.0; };
  if (op == "Erf") return [](double a) { return std::erf(a); };
  return nullptr;
}

bool IsComparison(const std::string& op) {
  return op == "Equal" || op == "Less" || op == "Greater" || op == "And" || op == "Or";
}

// Normalises an axis of a rank-`rank` tensor; false when out of range.
bool Axis(int64_t axis, int64_t rank, int64_t* out) {
  *out = axis < 0 ? axis + rank : axis;
  return *out >= 0 && *out < rank;
}

}  // namespace

bool BroadcastShape(const Dims& a, const Dims& b, Dims* out) {
  const size_t rank = std::max(a.size(), b.size());
  out->assign(rank, 1);
  for (size_t d = 0; d < rank; ++d) {
    const int64_t x = d + a.size() >= rank ? a[d + a.size() - rank] : 1;
    const int64_t y = d + b.size() >= rank ? b[d + b.size() - rank] : 1;
    if (x != y && x != 1 && y != 1) return false;
    (*out)[d] = x == 1 ? y : x;
  }
  return true;
}

std::vector<size_t> BroadcastIndex(const Dims& in, const Dims& out) {
  const size_t rank = out.size();
  std::vector<int64_t> strides(rank, 0);
  int64_t stride = 1;
  for (size_t k = in.size(); k-- > 0;) {
    const size_t d = k + rank - in.size();
    strides[d] = in[k] == 1 ? 0 : stride;
    stride *= in[k];
  }
  std::vector<size_t> index(static_cast<size_t>(Product(out)));
  std::vector<int64_t> position(rank, 0);
  int64_t at = 0;
  for (size_t i = 0; i < index.size(); ++i) {
    index[i] = static_cast<size_t>(at);
    for (size_t d = rank; d-- > 0;) {
      at += strides[d];
      if (++position[d] < out[d]) break;
      at -= strides[d] * out[d];
      position[d] = 0;
    }
  }
  return index;
}

bool PlanCompiler::Foldable(const Node& n) const {
  static const std::set<std::string> ops = {
      "Add",     "Sub",        "Mul",     "Div",       "Pow",       "Max",       "Min",
      "Mod",     "Equal",      "Less",    "Greater",   "And",       "Or",        "Neg",
      "Sqrt",    "Reciprocal", "Abs",     "Floor",     "Ceil",      "Not",       "Erf",
      "Where",   "Cast",       "Shape",   "Size",      "Gather",    "Unsqueeze", "Squeeze",
      "Reshape", "Flatten",    "Concat",  "Slice",     "Transpose", "Expand",    "ConstantOfShape",
      "Range",   "Identity",   "Dropout", "ScatterND", "Tile",      "Trilu"};
  if (ops.count(n.op_type) == 0) return false;
  for (const std::string& input : n.inputs) {
    if (!input.empty() && FindConstant(input) == nullptr) return false;
  }
  return !n.inputs.empty() || n.op_type == "ConstantOfShape";
}

Status PlanCompiler::Fold(size_t i) {
  const Node& n = node(i);
  const std::string& op = n.op_type;
  const auto input = [&](size_t k) -> const Constant* {
    return k < n.inputs.size() && !n.inputs[k].empty() ? FindConstant(n.inputs[k]) : nullptr;
  };
  const auto ints = [&](size_t k, const char* attribute) -> std::vector<int64_t> {
    if (const Constant* c = input(k)) return c->is_float ? std::vector<int64_t>() : c->ints;
    return n.Ints(attribute, {});
  };
  if (input(0) == nullptr) return NodeError(n, "its first input is missing");
  const Constant& a = *input(0);
  const int64_t rank = static_cast<int64_t>(a.dims.size());
  Constant out;

  if (const auto f = BinaryFunction(op, a.is_float); f && n.inputs.size() == 2) {
    const Constant& b = *input(1);
    Dims dims;
    if (!BroadcastShape(a.dims, b.dims, &dims)) {
      return NodeError(n, fmt::format("{} and {} do not broadcast", a.dims, b.dims));
    }
    out = Filled(dims, IsComparison(op) ? false : (a.is_float || b.is_float));
    const std::vector<size_t> ia = BroadcastIndex(a.dims, dims), ib = BroadcastIndex(b.dims, dims);
    for (size_t e = 0; e < ia.size(); ++e) Set(out, e, f(At(a, ia[e]), At(b, ib[e])));
  } else if (const auto g = UnaryFunction(op)) {
    out = Filled(a.dims, op == "Not" ? false : a.is_float);
    for (size_t e = 0; e < static_cast<size_t>(a.size()); ++e) Set(out, e, g(At(a, e)));
  } else if (op == "Where") {
    const Constant& x = *input(1);
    const Constant& y = *input(2);
    Dims xy, dims;
    if (!BroadcastShape(x.dims, y.dims, &xy) || !BroadcastShape(a.dims, xy, &dims)) {
      return NodeError(n, "its inputs do not broadcast");
    }
    out = Filled(dims, x.is_float);
    const std::vector<size_t> ic = BroadcastIndex(a.dims, dims), ix = BroadcastIndex(x.dims, dims),
                              iy = BroadcastIndex(y.dims, dims);
    for (size_t e = 0; e < ic.size(); ++e) {
      Set(out, e, At(a, ic[e]) != 0 ? At(x, ix[e]) : At(y, iy[e]));
    }
  } else if (op == "Cast") {
    const int64_t to = n.Int("to", 0);
    if (!IsFloat(to) && !IsIntegerType(to)) {
      return NodeError(n, fmt::format("a cast to ONNX data type {} is not supported", to));
    }
    out = Filled(a.dims, IsFloat(to));
    for (size_t e = 0; e < static_cast<size_t>(a.size()); ++e) {
      const double v = At(a, e);
      Set(out, e, to == 9 ? (v != 0 ? 1.0 : 0.0) : (IsFloat(to) ? v : std::trunc(v)));
    }
  } else if (op == "Shape" || op == "Size") {
    out = Filled(op == "Size" ? Dims{} : Dims{rank}, false);
    if (op == "Size") {
      out.ints = {a.size()};
    } else {
      int64_t start = n.Int("start", 0), end = n.Int("end", rank);
      start = std::clamp<int64_t>(start < 0 ? start + rank : start, 0, rank);
      end = std::clamp<int64_t>(end < 0 ? end + rank : end, start, rank);
      out.ints.assign(a.dims.begin() + start, a.dims.begin() + end);
      out.dims = {end - start};
    }
  } else if (op == "Gather") {
    const Constant* indices = input(1);
    int64_t axis = 0;
    if (indices == nullptr || indices->is_float || !Axis(n.Int("axis", 0), rank, &axis)) {
      return NodeError(n, "needs integer indices and an axis within the data's rank");
    }
    const int64_t outer = Product(Dims(a.dims.begin(), a.dims.begin() + axis));
    const int64_t inner = Product(a.dims, static_cast<size_t>(axis) + 1);
    Dims dims(a.dims.begin(), a.dims.begin() + axis);
    dims.insert(dims.end(), indices->dims.begin(), indices->dims.end());
    dims.insert(dims.end(), a.dims.begin() + axis + 1, a.dims.end());
    out = Filled(dims, a.is_float);
    size_t to = 0;
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t index : indices->ints) {
        if (index < 0) index += a.dims[axis];
        if (index < 0 || index >= a.dims[axis]) {
          return NodeError(n, fmt::format("index {} is out of range for {}", index, a.dims));
        }
        for (int64_t e = 0; e < inner; ++e) {
          CopyElement(a, static_cast<size_t>((o * a.dims[axis] + index) * inner + e), out, to++);
        }
      }
    }
  } else if (op == "Unsqueeze" || op == "Squeeze" || op == "Reshape" || op == "Flatten" ||
             op == "Identity" || op == "Dropout") {
    out = a;
    Result<Dims> dims = ReshapedDims(n, a.dims);
    if (!dims.ok()) return dims.status();
    out.dims = *dims;
  } else if (op == "Concat") {
    int64_t axis = 0;
    if (!Axis(n.Int("axis", 0), rank, &axis)) return NodeError(n, "axis out of range");
    Dims dims = a.dims;
    dims[axis] = 0;
    bool is_float = false;
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const Constant& part = *input(k);
      for (size_t d = 0; d < a.dims.size(); ++d) {
        if (part.dims.size() != a.dims.size() ||
            (static_cast<int64_t>(d) != axis && part.dims[d] != a.dims[d])) {
          return NodeError(n, fmt::format("input {} has shape {}, which does not concatenate "
                                          "with input 0 ({}) along axis {}",
                                          k, part.dims, a.dims, axis));
        }
      }
      dims[axis] += part.dims[axis];
      is_float = is_float || part.is_float;
    }
    out = Filled(dims, is_float);
    const int64_t outer = Product(Dims(a.dims.begin(), a.dims.begin() + axis));
    size_t to = 0;
    for (int64_t o = 0; o < outer; ++o) {
      for (size_t k = 0; k < n.inputs.size(); ++k) {
        const Constant& part = *input(k);
        const int64_t block = Product(part.dims, static_cast<size_t>(axis));
        for (int64_t e = 0; e < block; ++e)
          Set(out, to++, At(part, static_cast<size_t>(o * block + e)));
      }
    }
  } else if (op == "Slice") {
    Result<SliceSpec> spec = SliceOf(n, a.dims);
    if (!spec.ok()) return spec.status();
    out = Filled(spec->dims, a.is_float);
    std::vector<int64_t> strides(a.dims.size(), 1);
    for (size_t d = a.dims.size(); d-- > 1;) strides[d - 1] = strides[d] * a.dims[d];
    std::vector<int64_t> position(a.dims.size(), 0);
    for (size_t e = 0; e < static_cast<size_t>(out.size()); ++e) {
      int64_t from = 0;
      for (size_t d = 0; d < a.dims.size(); ++d) {
        from += (spec->starts[d] + position[d] * spec->steps[d]) * strides[d];
      }
      CopyElement(a, static_cast<size_t>(from), out, e);
      for (size_t d = a.dims.size(); d-- > 0;) {
        if (++position[d] < spec->dims[d]) break;
        position[d] = 0;
      }
    }
  } else if (op == "Transpose") {
    std::vector<int64_t> perm = n.Ints("perm", {});
    if (perm.empty()) {
      for (int64_t d = rank; d-- > 0;) perm.push_back(d);
    }
    Dims dims;
    for (const int64_t p : perm) {
      if (perm.size() != a.dims.size() || p < 0 || p >= rank ||
          std::count(perm.begin(), perm.end(), p) != 1) {
        return NodeError(n, fmt::format("perm {} is not a permutation of {} axes", perm, rank));
      }
      dims.push_back(a.dims[static_cast<size_t>(p)]);
    }
    out = Filled(dims, a.is_float);
    std::vector<int64_t> strides(a.dims.size(), 1);
    for (size_t d = a.dims.size(); d-- > 1;) strides[d - 1] = strides[d] * a.dims[d];
    std::vector<int64_t> position(dims.size(), 0);
    for (size_t e = 0; e < static_cast<size_t>(out.size()); ++e) {
      int64_t from = 0;
      for (size_t d = 0; d < dims.size(); ++d) from += position[d] * strides[perm[d]];
      CopyElement(a, static_cast<size_t>(from), out, e);
      for (size_t d = dims.size(); d-- > 0;) {
        if (++position[d] < dims[d]) break;
        position[d] = 0;
      }
    }
  } else if (op == "Expand") {
    Dims dims;
    if (!BroadcastShape(a.dims, ints(1, ""), &dims))
      return NodeError(n, "shape does not broadcast");
    out = Filled(dims, a.is_float);
    const std::vector<size_t> index = BroadcastIndex(a.dims, dims);
    for (size_t e = 0; e < index.size(); ++e) CopyElement(a, index[e], out, e);
  } else if (op == "ConstantOfShape") {
    const Constant& value =
        n.has("value") ? n.attributes.at("value").tensor : Constant{{1}, {0.0f}, {}, true};
    if (value.size() != 1) return NodeError(n, "its value must hold one element");
    out = Filled(ints(0, ""), value.is_float);
    for (size_t e = 0; e < static_cast<size_t>(out.size()); ++e) Set(out, e, At(value, 0));
  } else if (op == "Range") {
    const Constant& limit = *input(1);
    const Constant& delta = *input(2);
    const double start = At(a, 0), step = At(delta, 0);
    if (step == 0) return NodeError(n, "its delta is 0");
    const int64_t count =
        std::max<int64_t>(0, static_cast<int64_t>(std::ceil((At(limit, 0) - start) / step)));
    out = Filled({count}, a.is_float);
    for (int64_t e = 0; e < count; ++e)
      Set(out, static_cast<size_t>(e), start + static_cast<double>(e) * step);
  } else if (op == "ScatterND") {
    // Each index tuple (the last axis of indices) names a slice of the data; updates holds
    // them in order.
    const Constant& indices = *input(1);
    const Constant& updates = *input(2);
    const size_t k = indices.dims.empty() ? 0 : static_cast<size_t>(indices.dims.back());
    if (indices.is_float || k == 0 || k > a.dims.size() ||
        n.String("reduction", "none") != "none") {
      return NodeError(n, "needs integer index tuples and no reduction");
    }
    const int64_t slice = Product(a.dims, k);
    const int64_t tuples = indices.size() / static_cast<int64_t>(k);
    if (updates.size() != tuples * slice)
      return NodeError(n, "its updates do not match its indices");
    out = a;
    for (int64_t t = 0; t < tuples; ++t) {
      int64_t at = 0;
      for (size_t d = 0; d < k; ++d) {
        int64_t index = indices.ints[static_cast<size_t>(t) * k + d];
        if (index < 0) index += a.dims[d];
        if (index < 0 || index >= a.dims[d]) return NodeError(n, "an index is out of range");
        at = at * a.dims[d] + index;
      }
      for (int64_t e = 0; e < slice; ++e) {
        Set(out, static_cast<size_t>(at * slice + e),
            At(updates, static_cast<size_t>(t * slice + e)));
      }
    }
  } else if (op == "Trilu") {
    // The upper (or lower) triangle of the last two axes, from diagonal k on; zeros else.
    const std::vector<int64_t> k_input = ints(1, "");
    const int64_t k = k_input.empty() ? 0 : k_input[0];
    const bool upper = n.Int("upper", 1) != 0;
    if (rank < 2) return NodeError(n, "needs at least 2 axes");
    const int64_t rows = a.dims[rank - 2], columns = a.dims[rank - 1];
    out = a;
    for (size_t e = 0; e < static_cast<size_t>(a.size()); ++e) {
      const int64_t row = static_cast<int64_t>(e) / columns % rows;
      const int64_t column = static_cast<int64_t>(e) % columns;
      const bool kept = upper ? column - row >= k : column - row <= k;
      if (!kept) Set(out, e, 0.0);
    }
  } else if (op == "Tile") {
    const std::vector<int64_t> repeats = ints(1, "");
    if (repeats.size() != a.dims.size()) return NodeError(n, "its repeats do not match the rank");
    Dims dims = a.dims;
    for (size_t d = 0; d < dims.size(); ++d) dims[d] *= repeats[d];
    out = Filled(dims, a.is_float);
    std::vector<int64_t> position(dims.size(), 0);
    for (size_t e = 0; e < static_cast<size_t>(out.size()); ++e) {
      int64_t from = 0;
      for (size_t d = 0; d < dims.size(); ++d) from = from * a.dims[d] + position[d] % a.dims[d];
      CopyElement(a, static_cast<size_t>(from), out, e);
      for (size_t d = dims.size(); d-- > 0;) {
        if (++position[d] < dims[d]) break;
        position[d] = 0;
      }
    }
  } else {
    return NodeError(n, "cannot be evaluated while compiling");
  }
  computed_[n.outputs[0]] = std::move(out);
  return Status::Ok();
}

Result<Dims> PlanCompiler::ReshapedDims(const Node& n, const Dims& in) const {
  const std::string& op = n.op_type;
  if (op == "Identity" || op == "Dropout") return in;
  const int64_t rank = static_cast<int64_t>(in.size());
  if (op == "Flatten") {
    int64_t axis = n.Int("axis", 1);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis > rank) return NodeError(n, "axis out of range");
    return Dims{Product(Dims(in.begin(), in.begin() + axis)),
                Product(in, static_cast<size_t>(axis))};
  }
  const Constant* second =
      n.inputs.size() > 1 && !n.inputs[1].empty() ? FindConstant(n.inputs[1]) : nullptr;
  if (op == "Unsqueeze" || op == "Squeeze") {
    std::vector<int64_t> axes =
        second != nullptr && !second->is_float ? second->ints : n.Ints("axes", {});
    Dims dims = in;
    if (op == "Unsqueeze") {
      const int64_t out_rank = rank + static_cast<int64_t>(axes.size());
      for (int64_t& axis : axes) axis = axis < 0 ? axis + out_rank : axis;
      std::sort(axes.begin(), axes.end());
      for (const int64_t axis : axes) {
        if (axis < 0 || axis > static_cast<int64_t>(dims.size()))
          return NodeError(n, "axis out of range");
        dims.insert(dims.begin() + axis, 1);
      }
      return dims;
    }
    for (int64_t& axis : axes) axis = axis < 0 ? axis + rank : axis;
    Dims kept;
    for (int64_t d = 0; d < rank; ++d) {
      const bool listed = std::find(axes.begin(), axes.end(), d) != axes.end();
      if (!(axes.empty() ? in[d] == 1 : listed)) kept.push_back(in[d]);
    }
    return kept;
  }
  // Reshape
  if (second == nullptr || second->is_float) {
    return NodeError(n,
                     "its shape must be a constant or computed from shapes (export with "
                     "a fixed shape, or use torch.flatten)");
  }
  Dims target;
  int64_t known = 1;
  std::optional<size_t> inferred;
  for (size_t d = 0; d < second->ints.size(); ++d) {
    int64_t v = second->ints[d];
    if (v == 0 && n.Int("allowzero", 0) == 0) v = d < in.size() ? in[d] : 0;
    if (v == -1) {
      inferred = d;
    } else {
      known *= v;
    }
    target.push_back(v);
  }
  if (inferred) {
    if (known == 0 || Product(in) % known != 0)
      return NodeError(n, "its shape does not fit the input");
    target[*inferred] = Product(in) / known;
  }
  if (Product(target) != Product(in))
    return NodeError(n, fmt::format("cannot reshape {} to {}", in, target));
  return target;
}

Result<PlanCompiler::SliceSpec> PlanCompiler::SliceOf(const Node& n, const Dims& in) const {
  const auto ints = [&](size_t k, const char* attribute) -> std::optional<std::vector<int64_t>> {
    if (k < n.inputs.size() && !n.inputs[k].empty()) {
      const Constant* c = FindConstant(n.inputs[k]);
      if (c == nullptr || c->is_float) return std::nullopt;
      return c->ints;
    }
    return n.Ints(attribute, {});
  };
  // Opset 10 and later take starts, ends, axes and steps as inputs; before, attributes.
  const auto starts = ints(1, "starts"), ends = ints(2, "ends"), axes_given = ints(3, "axes"),
             steps_given = ints(4, "steps");
  if (!starts || !ends || !axes_given || !steps_given || starts->size() != ends->size() ||
      (!axes_given->empty() && axes_given->size() != starts->size()) ||
      (!steps_given->empty() && steps_given->size() != starts->size())) {
    return NodeError(n,
                     "its starts, ends, axes and steps must be integer constants of one "
                     "length");
  }
  const int64_t rank = static_cast<int64_t>(in.size());
  SliceSpec spec{in, Dims(in.size(), 0), Dims(in.size(), 1)};
  for (size_t k = 0; k < starts->size(); ++k) {
    int64_t axis = axes_given->empty() ? static_cast<int64_t>(k) : (*axes_given)[k];
    if (!Axis(axis, rank, &axis)) return NodeError(n, "an axis is out of range");
    const int64_t step = steps_given->empty() ? 1 : (*steps_given)[k];
    if (step == 0) return NodeError(n, "a step is 0");
    const int64_t size = in[axis];
    int64_t start = (*starts)[k], end = (*ends)[k];
    if (start < 0) start += size;
    if (end < 0) end += size;
    if (step > 0) {
      start = std::clamp<int64_t>(start, 0, size);
      end = std::clamp<int64_t>(end, 0, size);
      spec.dims[axis] = std::max<int64_t>(0, (end - start + step - 1) / step);
    } else {
      start = std::clamp<int64_t>(start, 0, size - 1);
      end = std::clamp<int64_t>(end, -1, size - 1);
      spec.dims[axis] = std::max<int64_t>(0, (start - end - step - 1) / -step);
    }
    spec.starts[axis] = start;
    spec.steps[axis] = step;
  }
  return spec;
}

}  // namespace kiln::inference
