#include "inference/plan.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <limits>
#include <numeric>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace kiln::inference {

using dnnl::memory;
using Tag = memory::format_tag;
using Dims = memory::dims;
constexpr memory::data_type kF32 = memory::data_type::f32;

namespace {

Tag PlainTag(size_t rank) {
  switch (rank) {
    case 1: return Tag::a;
    case 2: return Tag::ab;
    case 3: return Tag::abc;
    case 4: return Tag::abcd;
    case 5: return Tag::abcde;
    case 6: return Tag::abcdef;
    default: return Tag::undef;
  }
}

// Channels blocked by 16 (nChw16c for 4-D): the layout oneDNN's direct convolutions and
// pooling are fastest in for float32 on AVX-512 and AVX2 alike.
Tag Blocked16(size_t rank) {
  switch (rank) {
    case 3: return Tag::aBc16b;
    case 4: return Tag::aBcd16b;
    case 5: return Tag::aBcde16b;
    default: return Tag::any;
  }
}

// A reference (unoptimised C++) implementation: what oneDNN falls back to for a layout it
// has no kernel for, often 100x slower.
template <typename PrimitiveDesc>
bool IsReference(const PrimitiveDesc& pd) {
  return std::string_view(pd.impl_info_str()).starts_with("ref");
}

memory::desc PlainDesc(const Dims& dims) { return memory::desc(dims, kF32, PlainTag(dims.size())); }

int64_t Product(const Dims& dims, size_t from = 0) {
  return std::accumulate(dims.begin() + static_cast<std::ptrdiff_t>(from), dims.end(), int64_t{1},
                         std::multiplies<>());
}

struct Activation {
  dnnl::algorithm algorithm;
  float alpha = 0;
  float beta = 0;
};

const std::set<std::string>& ActivationOps() {
  static const std::set<std::string> ops = {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Elu", "Clip"};
  return ops;
}

// A value flowing through the plan.
struct Value {
  memory mem;  // in the layout its producer chose
  Dims dims;   // logical
  // A Flatten of a 4-D value that nothing has needed in plain layout yet: `mem` is empty
  // and `flat_source` is the 4-D value (a Gemm reads it as it is).
  memory flat_source;
  Dims source_dims;
};

}  // namespace

class PlanCompiler {
 public:
  PlanCompiler(const OnnxGraph& graph, int64_t batch, const dnnl::engine& engine,
               const std::string& origin, Plan& plan)
      : graph_(graph), batch_(batch), engine_(engine), stream_(engine), origin_(origin),
        plan_(plan), fused_(graph.nodes.size(), false) {}

  Status Compile();

 private:
  const Node& node(size_t i) const { return graph_.nodes[i]; }
  Status NodeError(const Node& n, const std::string& what) const {
    return InvalidArgumentError(
        fmt::format("{}: node '{}' ({}): {}", origin_, n.name, n.op_type, what));
  }
  // A constant of the file, or one computed while compiling (shape arithmetic).
  const Constant* FindConstant(const std::string& name) const {
    if (const auto it = graph_.constants.find(name); it != graph_.constants.end()) return &it->second;
    const auto it = computed_.find(name);
    return it == computed_.end() ? nullptr : &it->second;
  }
  Result<const Constant*> FloatConstant(const Node& n, size_t input, const char* role) const;
  Result<Value*> Data(const Node& n, size_t input);
  // The one node reading `name`, when it is one of `ops` and `name` is no graph output.
  std::optional<size_t> SoleConsumer(const std::string& name, const std::set<std::string>& ops);
  Result<Activation> ActivationOf(const Node& n) const;
  // Folds the activation that alone reads `*output` into `attr`; `*output` becomes its output.
  Status FuseActivation(std::string* output, dnnl::primitive_attr* attr);

  memory Plain(Value& value);  // the value in plain (row-major) layout, reordering if needed
  memory Reorder(const memory& from, const memory::desc& to);  // a step
  memory Weights(const memory::desc& want, const Dims& dims, Tag tag, const std::vector<float>& data);
  void AddStep(dnnl::primitive primitive, std::unordered_map<int, memory> args) {
    plan_.steps_.push_back({std::move(primitive), std::move(args)});
  }

  Status Conv(size_t i);
  Status Gemm(size_t i);
  Status Pool(size_t i);
  Status Eltwise(size_t i);
  Status BatchNorm(size_t i);
  Status Binary(size_t i);
  Status Softmax(size_t i);
  Status Reshape(size_t i);
  Status ShapeArithmetic(size_t i);

  const OnnxGraph& graph_;
  const int64_t batch_;
  const dnnl::engine& engine_;
  dnnl::stream stream_;  // for reordering weights while compiling
  const std::string& origin_;
  Plan& plan_;
  std::vector<bool> fused_;
  std::unordered_map<std::string, Value> values_;
  // Integer tensors computed from shapes, which are known once the batch size is:
  // x.view(x.size(0), -1) exports as Shape, Gather, Unsqueeze, Concat, then Reshape.
  std::map<std::string, Constant> computed_;
  std::unordered_map<std::string, std::vector<size_t>> consumers_;
  std::set<std::string> graph_outputs_;
};

Result<const Constant*> PlanCompiler::FloatConstant(const Node& n, size_t input,
                                                    const char* role) const {
  const Constant* c = input < n.inputs.size() ? FindConstant(n.inputs[input]) : nullptr;
  if (c == nullptr || !c->is_float) {
    return NodeError(n, fmt::format("its {} (input {}) must be a float constant (an initializer)",
                                    role, input));
  }
  return c;
}

Result<Value*> PlanCompiler::Data(const Node& n, size_t input) {
  if (input >= n.inputs.size() || n.inputs[input].empty()) {
    return NodeError(n, fmt::format("input {} is missing", input));
  }
  const std::string& name = n.inputs[input];
  const auto it = values_.find(name);
  if (it != values_.end()) return &it->second;
  if (FindConstant(name) != nullptr) {
    return NodeError(n, fmt::format("input '{}' is a constant where Kiln's engine needs a "
                                    "computed value",
                                    name));
  }
  return NodeError(n, fmt::format("input '{}' is not produced by any node", name));
}

std::optional<size_t> PlanCompiler::SoleConsumer(const std::string& name,
                                                 const std::set<std::string>& ops) {
  if (graph_outputs_.count(name) != 0) return std::nullopt;
  const auto it = consumers_.find(name);
  if (it == consumers_.end() || it->second.size() != 1) return std::nullopt;
  const size_t j = it->second.front();
  if (ops.count(node(j).op_type) == 0 || node(j).inputs.empty() || node(j).inputs[0] != name) {
    return std::nullopt;
  }
  return j;
}

Result<Activation> PlanCompiler::ActivationOf(const Node& n) const {
  using dnnl::algorithm;
  if (n.op_type == "Relu") return Activation{algorithm::eltwise_relu};
  if (n.op_type == "LeakyRelu") return Activation{algorithm::eltwise_relu, n.Float("alpha", 0.01f)};
  if (n.op_type == "Sigmoid") return Activation{algorithm::eltwise_logistic};
  if (n.op_type == "Tanh") return Activation{algorithm::eltwise_tanh};
  if (n.op_type == "Elu") return Activation{algorithm::eltwise_elu, n.Float("alpha", 1.0f)};
  // Clip: min and max are attributes before opset 11, optional constant inputs since.
  float low = n.Float("min", std::numeric_limits<float>::lowest());
  float high = n.Float("max", std::numeric_limits<float>::max());
  for (size_t input = 1; input < 3 && input < n.inputs.size(); ++input) {
    if (n.inputs[input].empty()) continue;
    const Constant* c = FindConstant(n.inputs[input]);
    if (c == nullptr || !c->is_float || c->floats.size() != 1) {
      return NodeError(n, "its min and max must be scalar constants");
    }
    (input == 1 ? low : high) = c->floats[0];
  }
  return Activation{algorithm::eltwise_clip, low, high};
}

Status PlanCompiler::FuseActivation(std::string* output, dnnl::primitive_attr* attr) {
  const std::optional<size_t> j = SoleConsumer(*output, ActivationOps());
  if (!j) return Status::Ok();
  Result<Activation> activation = ActivationOf(node(*j));
  if (!activation.ok()) return activation.status();
  dnnl::post_ops ops;
  ops.append_eltwise(1.0f, activation->algorithm, activation->alpha, activation->beta);
  attr->set_post_ops(ops);
  fused_[*j] = true;
  *output = node(*j).outputs[0];
  return Status::Ok();
}

memory PlanCompiler::Reorder(const memory& from, const memory::desc& to) {
  memory out(to, engine_);
  AddStep(dnnl::reorder(from, out), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, out}});
  return out;
}

memory PlanCompiler::Plain(Value& value) {
  if (value.flat_source) {
    // Materialise the flattened 4-D value row-major, then read the same bytes as 2-D.
    memory plain4 = Reorder(value.flat_source, PlainDesc(value.source_dims));
    value.mem = memory(PlainDesc(value.dims), engine_, plain4.get_data_handle());
    plan_.keep_alive_.push_back(plain4);
    value.flat_source = memory();
    return value.mem;
  }
  const memory::desc plain = PlainDesc(value.dims);
  if (value.mem.get_desc() != plain) value.mem = Reorder(value.mem, plain);
  return value.mem;
}

memory PlanCompiler::Weights(const memory::desc& want, const Dims& dims, Tag tag,
                             const std::vector<float>& data) {
  memory user(memory::desc(dims, kF32, tag), engine_, const_cast<float*>(data.data()));
  memory out(want, engine_);
  dnnl::reorder(user, out).execute(stream_, user, out);
  stream_.wait();
  return out;
}

namespace {

// Output size of a window op, ONNX's rules; adjusts `pad_end` so oneDNN's floor rule gives
// the ceil_mode result.
int64_t WindowOutput(int64_t in, int64_t kernel, int64_t stride, int64_t dilation,
                     int64_t pad_begin, int64_t* pad_end, bool ceil_mode) {
  const int64_t extent = (kernel - 1) * dilation + 1;
  const int64_t span = in + pad_begin + *pad_end - extent;
  int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  if (ceil_mode) {
    if ((out - 1) * stride >= in + pad_begin) --out;  // the last window must start inside
    *pad_end = std::max(*pad_end, (out - 1) * stride + extent - in - pad_begin);
  }
  return out;
}

// ONNX pads [b1, b2, ..., e1, e2, ...], or auto_pad.
Status Pads(const Node& n, const Dims& in, const Dims& kernel, const Dims& strides,
            const Dims& dilations, Dims* begin, Dims* end, const std::string& origin) {
  const size_t k = kernel.size();
  const std::string auto_pad = n.String("auto_pad", "NOTSET");
  begin->assign(k, 0);
  end->assign(k, 0);
  if (auto_pad == "NOTSET") {
    const std::vector<int64_t> pads = n.Ints("pads", std::vector<int64_t>(2 * k, 0));
    if (pads.size() != 2 * k) {
      return InvalidArgumentError(fmt::format("{}: node '{}' ({}): pads has {} values for {} "
                                              "spatial dimensions",
                                              origin, n.name, n.op_type, pads.size(), k));
    }
    for (size_t d = 0; d < k; ++d) {
      (*begin)[d] = pads[d];
      (*end)[d] = pads[k + d];
    }
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    for (size_t d = 0; d < k; ++d) {
      const int64_t out = (in[d] + strides[d] - 1) / strides[d];
      const int64_t total =
          std::max<int64_t>(0, (out - 1) * strides[d] + (kernel[d] - 1) * dilations[d] + 1 - in[d]);
      const int64_t small = total / 2;
      (*begin)[d] = auto_pad == "SAME_UPPER" ? small : total - small;
      (*end)[d] = total - (*begin)[d];
    }
  } else if (auto_pad != "VALID") {
    return InvalidArgumentError(fmt::format("{}: node '{}' ({}): auto_pad '{}' is not an ONNX "
                                            "value",
                                            origin, n.name, n.op_type, auto_pad));
  }
  return Status::Ok();
}

}  // namespace

Status PlanCompiler::Conv(size_t i) {
  const Node& n = node(i);
  Result<Value*> xr = Data(n, 0);
  if (!xr.ok()) return xr.status();
  Value& x = **xr;
  Result<const Constant*> wr = FloatConstant(n, 1, "weights");
  if (!wr.ok()) return wr.status();
  const Constant& w = **wr;
  if (x.flat_source || x.dims.size() < 3 || x.dims.size() > 5 || w.dims.size() != x.dims.size()) {
    return NodeError(n, fmt::format("needs 3-D to 5-D input and weights of the same rank, got "
                                    "input {} and weights {}",
                                    x.dims, w.dims));
  }
  const size_t k = x.dims.size() - 2;
  const int64_t group = n.Int("group", 1);
  const int64_t out_channels = w.dims[0];
  if (group < 1 || x.dims[1] != w.dims[1] * group || out_channels % group != 0) {
    return NodeError(n, fmt::format("input channels {} do not match weights {} with group {}",
                                    x.dims[1], w.dims, group));
  }
  const Dims kernel(w.dims.begin() + 2, w.dims.end());
  const Dims strides = n.Ints("strides", Dims(k, 1));
  const Dims dilations = n.Ints("dilations", Dims(k, 1));
  const Dims in(x.dims.begin() + 2, x.dims.end());
  Dims pad_begin, pad_end;
  KILN_RETURN_IF_ERROR(Pads(n, in, kernel, strides, dilations, &pad_begin, &pad_end, origin_));

  std::vector<float> weights = w.floats;
  std::vector<float> bias(static_cast<size_t>(out_channels), 0.0f);
  if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
    Result<const Constant*> b = FloatConstant(n, 2, "bias");
    if (!b.ok()) return b.status();
    if ((*b)->floats.size() != bias.size()) return NodeError(n, "its bias does not match its outputs");
    bias = (*b)->floats;
  }
  std::string output = n.outputs[0];
  // A BatchNormalization reading only this Conv folds into its weights and bias.
  if (const std::optional<size_t> j = SoleConsumer(output, {"BatchNormalization"})) {
    const Node& bn = node(*j);
    const Constant* p[4] = {};
    bool constant = bn.inputs.size() == 5;
    for (size_t a = 0; constant && a < 4; ++a) {
      p[a] = FindConstant(bn.inputs[a + 1]);
      constant = p[a] != nullptr && p[a]->is_float && p[a]->floats.size() == bias.size();
    }
    if (constant) {
      const float epsilon = bn.Float("epsilon", 1e-5f);
      const size_t per_output = weights.size() / bias.size();
      for (size_t o = 0; o < bias.size(); ++o) {
        const float scale = p[0]->floats[o] / std::sqrt(p[3]->floats[o] + epsilon);
        for (size_t e = 0; e < per_output; ++e) weights[o * per_output + e] *= scale;
        bias[o] = (bias[o] - p[2]->floats[o]) * scale + p[1]->floats[o];
      }
      fused_[*j] = true;
      output = bn.outputs[0];
    }
  }
  dnnl::primitive_attr attr;
  KILN_RETURN_IF_ERROR(FuseActivation(&output, &attr));

  Dims dst_dims = {x.dims[0], out_channels};
  Dims onednn_dilations(k);
  for (size_t d = 0; d < k; ++d) {
    dst_dims.push_back(WindowOutput(in[d], kernel[d], strides[d], dilations[d], pad_begin[d],
                                    &pad_end[d], false));
    onednn_dilations[d] = dilations[d] - 1;
    if (dst_dims.back() < 1) return NodeError(n, "its output would be empty");
  }
  Dims weight_dims = w.dims;
  Tag weight_tag = PlainTag(w.dims.size());
  if (group > 1) {
    weight_dims = {group, out_channels / group};
    weight_dims.insert(weight_dims.end(), w.dims.begin() + 1, w.dims.end());
    weight_tag = PlainTag(weight_dims.size());
  }
  // Layouts: channels blocked by 16 through the network, the first convolution (a few input
  // channels, e.g. 1 or 3) reading the plain input; about 10% faster than letting oneDNN
  // choose (format_tag::any picks nhwc here) for the example CNN. Anything else, or a
  // choice that lands on a reference kernel, goes to oneDNN's own choice.
  const bool few_inputs = group == 1 && x.dims[1] < 8;
  const bool blockable = out_channels % 16 == 0 && (few_inputs || (group == 1 && x.dims[1] % 16 == 0));
  const auto make_pd = [&](Tag src_tag, Tag dst_tag) {
    const dnnl::convolution_forward::desc desc(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
        memory::desc(x.dims, kF32, src_tag), memory::desc(weight_dims, kF32, Tag::any),
        memory::desc({out_channels}, kF32, Tag::a), memory::desc(dst_dims, kF32, dst_tag), strides,
        onednn_dilations, pad_begin, pad_end);
    return dnnl::convolution_forward::primitive_desc(desc, attr, engine_);
  };
  dnnl::convolution_forward::primitive_desc pd;
  if (blockable) {
    try {
      pd = make_pd(few_inputs ? PlainTag(x.dims.size()) : Blocked16(x.dims.size()), Blocked16(dst_dims.size()));
    } catch (const dnnl::error&) {
      pd = {};
    }
  }
  if (!pd || IsReference(pd)) pd = make_pd(Tag::any, Tag::any);
  memory src = x.mem.get_desc() == pd.src_desc() ? x.mem : Reorder(x.mem, pd.src_desc());
  memory w_mem = Weights(pd.weights_desc(), weight_dims, weight_tag, weights);
  memory b_mem = Weights(pd.bias_desc(), {out_channels}, Tag::a, bias);
  memory dst(pd.dst_desc(), engine_);
  AddStep(dnnl::convolution_forward(pd),
          {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w_mem}, {DNNL_ARG_BIAS, b_mem}, {DNNL_ARG_DST, dst}});
  values_[output] = Value{dst, dst_dims, {}, {}};
  return Status::Ok();
}

Status PlanCompiler::Gemm(size_t i) {
  const Node& n = node(i);
  Result<Value*> ar = Data(n, 0);
  if (!ar.ok()) return ar.status();
  Value& a = **ar;
  Result<const Constant*> br = FloatConstant(n, 1, "weights (B)");
  if (!br.ok()) return br.status();
  const Constant& b = **br;
  const bool matmul = n.op_type == "MatMul";
  if (!matmul && n.Int("transA", 0) != 0) return NodeError(n, "transA=1 is not supported");
  const bool trans_b = !matmul && n.Int("transB", 0) != 0;
  if (a.dims.size() != 2 || b.dims.size() != 2) {
    return NodeError(n, fmt::format("needs a 2-D input and 2-D weights, got {} and {}", a.dims,
                                    b.dims));
  }
  const int64_t in_features = trans_b ? b.dims[1] : b.dims[0];
  const int64_t out_features = trans_b ? b.dims[0] : b.dims[1];
  if (in_features != a.dims[1]) {
    return NodeError(n, fmt::format("input has {} features, weights {} expect {}", a.dims[1],
                                    b.dims, in_features));
  }
  const float alpha = matmul ? 1.0f : n.Float("alpha", 1.0f);
  const float beta = matmul ? 1.0f : n.Float("beta", 1.0f);
  std::vector<float> weights(b.floats.size());  // [out][in], scaled by alpha
  for (int64_t o = 0; o < out_features; ++o) {
    for (int64_t e = 0; e < in_features; ++e) {
      const float v = trans_b ? b.floats[static_cast<size_t>(o * in_features + e)]
                              : b.floats[static_cast<size_t>(e * out_features + o)];
      weights[static_cast<size_t>(o * in_features + e)] = alpha * v;
    }
  }
  std::vector<float> bias(static_cast<size_t>(out_features), 0.0f);
  std::string output = n.outputs[0];
  const Constant* c = nullptr;
  if (!matmul && n.inputs.size() > 2 && !n.inputs[2].empty()) {
    Result<const Constant*> cr = FloatConstant(n, 2, "bias (C)");
    if (!cr.ok()) return cr.status();
    c = *cr;
  } else if (const std::optional<size_t> j = matmul ? SoleConsumer(output, {"Add"}) : std::nullopt) {
    // MatMul then Add of a constant vector: the Add is the bias.
    const Node& add = node(*j);
    const Constant* addend = add.inputs.size() == 2 ? FindConstant(add.inputs[1]) : nullptr;
    if (addend != nullptr && addend->is_float &&
        (addend->floats.size() == bias.size() || addend->floats.size() == 1)) {
      c = addend;
      fused_[*j] = true;
      output = add.outputs[0];
    }
  }
  if (c != nullptr) {
    if (c->floats.size() != bias.size() && c->floats.size() != 1) {
      return NodeError(n, fmt::format("its bias (C) has shape {}; Kiln's engine takes a vector "
                                      "of {} or a scalar",
                                      c->dims, out_features));
    }
    for (size_t o = 0; o < bias.size(); ++o) bias[o] = beta * c->floats[c->floats.size() == 1 ? 0 : o];
  }
  dnnl::primitive_attr attr;
  KILN_RETURN_IF_ERROR(FuseActivation(&output, &attr));

  // A flattened 4-D input is read in its own layout, with the weights seen as [O, C, H, W].
  const bool flat = static_cast<bool>(a.flat_source);
  const Dims src_dims = flat ? a.source_dims : a.dims;
  Dims weight_dims = {out_features};
  weight_dims.insert(weight_dims.end(), src_dims.begin() + 1, src_dims.end());
  const memory& src_mem = flat ? a.flat_source : a.mem;
  const Dims dst_dims = {a.dims[0], out_features};
  const auto make_pd = [&](const memory::desc& src_desc) {
    const dnnl::inner_product_forward::desc desc(
        dnnl::prop_kind::forward_inference, src_desc, memory::desc(weight_dims, kF32, Tag::any),
        memory::desc({out_features}, kF32, Tag::a), memory::desc(dst_dims, kF32, Tag::any));
    return dnnl::inner_product_forward::primitive_desc(desc, attr, engine_);
  };
  dnnl::inner_product_forward::primitive_desc pd;
  try {
    pd = make_pd(src_mem.get_desc());
  } catch (const dnnl::error&) {
    pd = make_pd(memory::desc(src_dims, kF32, Tag::any));
  }
  memory src = src_mem.get_desc() == pd.src_desc() ? src_mem : Reorder(src_mem, pd.src_desc());
  memory w_mem = Weights(pd.weights_desc(), weight_dims, PlainTag(weight_dims.size()), weights);
  memory b_mem = Weights(pd.bias_desc(), {out_features}, Tag::a, bias);
  memory dst(pd.dst_desc(), engine_);
  AddStep(dnnl::inner_product_forward(pd),
          {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w_mem}, {DNNL_ARG_BIAS, b_mem}, {DNNL_ARG_DST, dst}});
  values_[output] = Value{dst, dst_dims, {}, {}};
  return Status::Ok();
}

Status PlanCompiler::Pool(size_t i) {
  const Node& n = node(i);
  Result<Value*> xr = Data(n, 0);
  if (!xr.ok()) return xr.status();
  Value& x = **xr;
  if (x.flat_source || x.dims.size() < 3) return NodeError(n, "needs a 3-D to 5-D input");
  const size_t k = x.dims.size() - 2;
  const Dims in(x.dims.begin() + 2, x.dims.end());
  const bool global = n.op_type.rfind("Global", 0) == 0;
  const Dims kernel = global ? in : n.Ints("kernel_shape", {});
  if (kernel.size() != k) return NodeError(n, "kernel_shape must give every spatial dimension");
  const Dims strides = global ? Dims(k, 1) : n.Ints("strides", Dims(k, 1));
  const Dims dilations = global ? Dims(k, 1) : n.Ints("dilations", Dims(k, 1));
  for (const int64_t d : dilations) {
    if (d != 1) return NodeError(n, "dilated pooling is not supported");
  }
  Dims pad_begin(k, 0), pad_end(k, 0);
  if (!global) {
    KILN_RETURN_IF_ERROR(Pads(n, in, kernel, strides, dilations, &pad_begin, &pad_end, origin_));
  }
  const bool ceil_mode = n.Int("ceil_mode", 0) != 0;
  Dims dst_dims = {x.dims[0], x.dims[1]};
  for (size_t d = 0; d < k; ++d) {
    dst_dims.push_back(WindowOutput(in[d], kernel[d], strides[d], 1, pad_begin[d], &pad_end[d],
                                    ceil_mode));
  }
  const bool max = n.op_type.find("Max") != std::string::npos;
  const dnnl::algorithm algorithm =
      max ? dnnl::algorithm::pooling_max
          : (n.Int("count_include_pad", 0) != 0 ? dnnl::algorithm::pooling_avg_include_padding
                                                  : dnnl::algorithm::pooling_avg_exclude_padding);
  const dnnl::pooling_forward::desc desc(dnnl::prop_kind::forward_inference, algorithm,
                                         x.mem.get_desc(), memory::desc(dst_dims, kF32, Tag::any),
                                         strides, kernel, pad_begin, pad_end);
  const dnnl::pooling_forward::primitive_desc pd(desc, engine_);
  memory dst(pd.dst_desc(), engine_);
  std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, x.mem}, {DNNL_ARG_DST, dst}};
  if (pd.workspace_desc().get_size() != 0) args[DNNL_ARG_WORKSPACE] = memory(pd.workspace_desc(), engine_);
  AddStep(dnnl::pooling_forward(pd), std::move(args));
  values_[n.outputs[0]] = Value{dst, dst_dims, {}, {}};
  return Status::Ok();
}

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

Status PlanCompiler::BatchNorm(size_t i) {
  const Node& n = node(i);
  Result<Value*> xr = Data(n, 0);
  if (!xr.ok()) return xr.status();
  Value& x = **xr;
  const memory src = x.flat_source ? Plain(x) : x.mem;
  const int64_t channels = x.dims.size() > 1 ? x.dims[1] : 0;
  std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, src}};
  const int roles[4] = {DNNL_ARG_SCALE, DNNL_ARG_SHIFT, DNNL_ARG_MEAN, DNNL_ARG_VARIANCE};
  const char* names[4] = {"scale", "bias", "mean", "variance"};
  for (size_t a = 0; a < 4; ++a) {
    Result<const Constant*> c = FloatConstant(n, a + 1, names[a]);
    if (!c.ok()) return c.status();
    if (static_cast<int64_t>((*c)->floats.size()) != channels) {
      return NodeError(n, fmt::format("its {} has {} values for {} channels", names[a],
                                      (*c)->floats.size(), channels));
    }
    const memory::desc md({channels}, kF32, Tag::a);
    args[roles[a]] = Weights(md, {channels}, Tag::a, (*c)->floats);
  }
  const auto flags = dnnl::normalization_flags::use_global_stats |
                     dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
  const dnnl::batch_normalization_forward::primitive_desc pd(
      dnnl::batch_normalization_forward::desc(dnnl::prop_kind::forward_inference, src.get_desc(),
                                              n.Float("epsilon", 1e-5f), flags),
      engine_);
  memory dst(pd.dst_desc(), engine_);
  args[DNNL_ARG_DST] = dst;
  AddStep(dnnl::batch_normalization_forward(pd), std::move(args));
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
    if (!c->is_float || c->dims.size() > rank) return NodeError(n, "its constant does not broadcast");
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
    if (b.dims == a.dims && src1.get_desc() != src0.get_desc()) src1 = Reorder(src1, src0.get_desc());
    else if (b.dims != a.dims) src1 = Plain(b);
  }
  const dnnl::algorithm algorithm =
      n.op_type == "Add"   ? dnnl::algorithm::binary_add
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
    if (axis < 0 || axis > static_cast<int64_t>(x.dims.size())) return NodeError(n, "axis out of range");
    const int64_t outer = Product(Dims(x.dims.begin(), x.dims.begin() + axis));
    target = {outer, Product(x.dims, static_cast<size_t>(axis))};
  } else {
    const Constant* shape = n.inputs.size() == 2 ? FindConstant(n.inputs[1]) : nullptr;
    if (shape == nullptr || shape->is_float) {
      return NodeError(n, "its shape must be a constant or computed from shapes (export with "
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
      if (known == 0 || Product(x.dims) % known != 0) return NodeError(n, "its shape does not fit the input");
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
      return NodeError(n, "Kiln's engine runs this operator on integer constants and shapes "
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
          if (axis < 0 || axis > static_cast<int64_t>(out.dims.size())) return NodeError(n, "axis out of range");
          out.dims.insert(out.dims.begin() + axis, 1);
        }
      } else {
        std::vector<int64_t> kept;
        for (size_t d = 0; d < out.dims.size(); ++d) {
          const bool listed = std::find(axes.begin(), axes.end(), static_cast<int64_t>(d)) != axes.end() ||
                              std::find(axes.begin(), axes.end(), static_cast<int64_t>(d) - static_cast<int64_t>(out.dims.size())) != axes.end();
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
      if (to != 6 && to != 7) return NodeError(n, "only casts of shapes to int32 or int64 are supported");
      out = *a;
    }
  }
  computed_[n.outputs[0]] = std::move(out);
  return Status::Ok();
}

Status PlanCompiler::Compile() {
  if (graph_.inputs.size() != 1) {
    return InvalidArgumentError(fmt::format("{}: the model has {} inputs; Kiln's engine serves "
                                            "models with one input",
                                            origin_, graph_.inputs.size()));
  }
  const ValueInfo& input = graph_.inputs[0];
  if (input.elem_type != 1 /* FLOAT */) {
    return InvalidArgumentError(fmt::format("{}: input '{}' is not float32", origin_, input.name));
  }
  Dims dims = input.shape;
  if (dims.empty()) return InvalidArgumentError(fmt::format("{}: input '{}' has no shape", origin_, input.name));
  dims[0] = batch_;
  for (size_t d = 1; d < dims.size(); ++d) {
    if (dims[d] == kDynamicDim) {
      return InvalidArgumentError(fmt::format(
          "{}: input '{}' leaves dimension {} open; Kiln's engine needs every dimension but "
          "the batch (the first) fixed",
          origin_, input.name, d));
    }
  }
  plan_.input_ = memory(PlainDesc(dims), engine_, DNNL_MEMORY_NONE);
  values_[input.name] = Value{plan_.input_, dims, {}, {}};
  for (const ValueInfo& output : graph_.outputs) graph_outputs_.insert(output.name);
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    for (const std::string& name : node(i).inputs) {
      if (!name.empty()) consumers_[name].push_back(i);
    }
  }

  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    if (fused_[i]) continue;
    const Node& n = node(i);
    const std::string& op = n.op_type;
    Status status;
    try {
      if (op == "Conv") {
        status = Conv(i);
      } else if (op == "Gemm" || op == "MatMul") {
        status = Gemm(i);
      } else if (op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool" ||
                 op == "GlobalMaxPool") {
        status = Pool(i);
      } else if (ActivationOps().count(op) != 0) {
        status = Eltwise(i);
      } else if (op == "BatchNormalization") {
        status = BatchNorm(i);
      } else if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") {
        status = Binary(i);
      } else if (op == "Softmax" || op == "LogSoftmax") {
        status = Softmax(i);
      } else if (op == "Flatten" || op == "Reshape") {
        status = Reshape(i);
      } else if (op == "Shape" || op == "Gather" || op == "Unsqueeze" || op == "Squeeze" ||
                 op == "Concat" || op == "Cast") {
        status = ShapeArithmetic(i);
      } else if (op == "Dropout" || op == "Identity") {  // inference: the input itself
        Result<Value*> x = Data(n, 0);
        if (!x.ok()) return x.status();
        values_[n.outputs[0]] = **x;
      } else {
        return NodeError(n, "this operator is not supported by Kiln's engine (docs/models.md "
                            "lists the supported ones)");
      }
    } catch (const dnnl::error& e) {
      return NodeError(n, fmt::format("oneDNN cannot run it: {}", e.what()));
    }
    KILN_RETURN_IF_ERROR(status);
  }

  for (const ValueInfo& output : graph_.outputs) {
    const auto it = values_.find(output.name);
    if (it == values_.end()) {
      return InvalidArgumentError(
          fmt::format("{}: output '{}' is not computed by the graph", origin_, output.name));
    }
    const memory plain = Plain(it->second);
    memory out(plain.get_desc(), engine_, DNNL_MEMORY_NONE);
    AddStep(dnnl::reorder(plain, out), {{DNNL_ARG_FROM, plain}, {DNNL_ARG_TO, out}});
    plan_.outputs_.push_back(out);
    plan_.output_shapes_.emplace_back(it->second.dims.begin(), it->second.dims.end());
  }
  plan_.batch_ = batch_;
  return Status::Ok();
}

Result<std::unique_ptr<Plan>> Plan::Compile(const OnnxGraph& graph, int64_t batch,
                                            const dnnl::engine& engine, const std::string& origin) {
  std::unique_ptr<Plan> plan(new Plan());
  PlanCompiler compiler(graph, batch, engine, origin, *plan);
  KILN_RETURN_IF_ERROR(compiler.Compile());
  return plan;
}

int64_t Plan::output_size(size_t i) const {
  return std::accumulate(output_shapes_[i].begin(), output_shapes_[i].end(), int64_t{1},
                         std::multiplies<>());
}

void Plan::Execute(dnnl::stream& stream, const float* input, const std::vector<float*>& outputs) {
  input_.set_data_handle(const_cast<float*>(input));
  for (size_t i = 0; i < outputs_.size(); ++i) outputs_[i].set_data_handle(outputs[i]);
  for (Step& step : steps_) step.primitive.execute(stream, step.args);
  stream.wait();
}

}  // namespace kiln::inference
