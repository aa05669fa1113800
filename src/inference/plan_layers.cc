// PlanCompiler's layers with weights or windows: Conv (with a batch norm and an activation
// folded in), Gemm and MatMul, pooling, batch normalization.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <string_view>

#include "inference/plan_compiler.h"

namespace kiln::inference {
namespace {

// Channels blocked by 16 (nChw16c for 4-D): the layout oneDNN's direct convolutions and
// pooling are fastest in for float32 on AVX-512 and AVX2 alike.
Tag Blocked16(size_t rank) {
  switch (rank) {
    case 3:
      return Tag::aBc16b;
    case 4:
      return Tag::aBcd16b;
    case 5:
      return Tag::aBcde16b;
    default:
      return Tag::any;
  }
}

// A reference (unoptimised C++) implementation: what oneDNN falls back to for a layout it
// has no kernel for, often 100x slower.
template <typename PrimitiveDesc>
bool IsReference(const PrimitiveDesc& pd) {
  return std::string_view(pd.impl_info_str()).starts_with("ref");
}

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
      return InvalidArgumentError(
          fmt::format("{}: node '{}' ({}): pads has {} values for {} "
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
    return InvalidArgumentError(
        fmt::format("{}: node '{}' ({}): auto_pad '{}' is not an ONNX "
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
    if ((*b)->floats.size() != bias.size())
      return NodeError(n, "its bias does not match its outputs");
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
  Dims dst_dims = {x.dims[0], out_channels};
  Dims onednn_dilations(k);
  for (size_t d = 0; d < k; ++d) {
    dst_dims.push_back(
        WindowOutput(in[d], kernel[d], strides[d], dilations[d], pad_begin[d], &pad_end[d], false));
    onednn_dilations[d] = dilations[d] - 1;
    if (dst_dims.back() < 1) return NodeError(n, "its output would be empty");
  }
  // A residual Add reading only this Conv and a value computed already (ResNet's skip
  // connection) is a binary post-op, and the activation after it another.
  dnnl::post_ops ops;
  memory residual;
  if (const auto it = consumers_.find(output);
      graph_outputs_.count(output) == 0 && it != consumers_.end() && it->second.size() == 1 &&
      node(it->second[0]).op_type == "Add" && node(it->second[0]).inputs.size() == 2) {
    const Node& add = node(it->second[0]);
    const std::string& other = add.inputs[0] == output ? add.inputs[1] : add.inputs[0];
    const auto value = values_.find(other);
    // Only into a convolution that runs channel-blocked, with the residual in that layout
    // already: any other layout sends oneDNN to a gemm kernel 2-3x slower than the Conv
    // and the Add apart (MobileNet v3's 24 and 40 channels).
    const bool blocked_residual =
        out_channels % 16 == 0 && (x.dims[1] < 8 || x.dims[1] % 16 == 0) && group == 1 &&
        value != values_.end() &&
        value->second.mem.get_desc() == memory::desc(dst_dims, kF32, Blocked16(dst_dims.size()));
    if (other != output && blocked_residual && value->second.dims == dst_dims &&
        !value->second.flat_source) {
      residual = value->second.mem;
      ops.append_binary(dnnl::algorithm::binary_add, residual.get_desc());
      fused_[it->second[0]] = true;
      output = add.outputs[0];
    }
  }
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  KILN_RETURN_IF_ERROR(FuseActivation(&output, &attr));

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
  const bool blockable =
      out_channels % 16 == 0 && (few_inputs || (group == 1 && x.dims[1] % 16 == 0));
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
      pd = make_pd(few_inputs ? PlainTag(x.dims.size()) : Blocked16(x.dims.size()),
                   Blocked16(dst_dims.size()));
    } catch (const dnnl::error&) {
      pd = {};
    }
  }
  if (!pd || IsReference(pd)) pd = make_pd(Tag::any, Tag::any);
  memory src = x.mem.get_desc() == pd.src_desc() ? x.mem : Reorder(x.mem, pd.src_desc());
  memory w_mem = Weights(pd.weights_desc(), weight_dims, weight_tag, weights);
  memory b_mem = Weights(pd.bias_desc(), {out_channels}, Tag::a, bias);
  memory dst(pd.dst_desc(), engine_);
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w_mem}, {DNNL_ARG_BIAS, b_mem}, {DNNL_ARG_DST, dst}};
  if (residual) args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] = residual;
  AddStep(dnnl::convolution_forward(pd), std::move(args));
  values_[output] = Value{dst, dst_dims, {}, {}};
  return Status::Ok();
}

Status PlanCompiler::Gemm(size_t i) {
  const Node& n = node(i);
  const bool matmul = n.op_type == "MatMul";
  if (matmul) {
    // A layer (an inner product) when B is a 2-D constant; anything else, oneDNN's matmul.
    const Constant* weights = n.inputs.size() == 2 ? FindConstant(n.inputs[1]) : nullptr;
    if (weights == nullptr || weights->dims.size() != 2 || values_.count(n.inputs[0]) == 0) {
      return MatMul(i);
    }
  }
  Result<Value*> ar = Data(n, 0);
  if (!ar.ok()) return ar.status();
  Value& a = **ar;
  Result<const Constant*> br = FloatConstant(n, 1, "weights (B)");
  if (!br.ok()) return br.status();
  const Constant& b = **br;
  if (!matmul && n.Int("transA", 0) != 0) return NodeError(n, "transA=1 is not supported");
  const bool trans_b = !matmul && n.Int("transB", 0) != 0;
  // MatMul of an N-D input: the leading axes seen as rows.
  const Dims leading(a.dims.begin(), a.dims.end() - (a.dims.empty() ? 0 : 1));
  Value rows;
  if (matmul && a.dims.size() > 2) {
    rows = Value{
        View(a, {Product(leading), a.dims.back()}), {Product(leading), a.dims.back()}, {}, {}};
  }
  Value& src_value = rows.mem ? rows : a;
  if (src_value.dims.size() != 2 || b.dims.size() != 2) {
    return NodeError(
        n, fmt::format("needs a 2-D input and 2-D weights, got {} and {}", a.dims, b.dims));
  }
  const int64_t in_features = trans_b ? b.dims[1] : b.dims[0];
  const int64_t out_features = trans_b ? b.dims[0] : b.dims[1];
  if (in_features != src_value.dims[1]) {
    return NodeError(n, fmt::format("input has {} features, weights {} expect {}",
                                    src_value.dims[1], b.dims, in_features));
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
  } else if (const std::optional<size_t> j =
                 matmul ? SoleConsumer(output, {"Add"}, /*any_input=*/true) : std::nullopt) {
    // MatMul then Add of a constant vector: the Add is the bias.
    const Node& add = node(*j);
    // Either operand (torchvision's ViT adds the bias first).
    const size_t other = add.inputs.size() == 2 && add.inputs[1] == output ? 0 : 1;
    const Constant* addend = add.inputs.size() == 2 && add.inputs[1 - other] == output
                                 ? FindConstant(add.inputs[other])
                                 : nullptr;
    // A bias: [out_features] or a scalar, with leading 1s no more than the output has.
    const bool vector_like =
        addend != nullptr && addend->dims.size() <= a.dims.size() &&
        std::all_of(addend->dims.begin(), addend->dims.end() - (addend->dims.empty() ? 0 : 1),
                    [](int64_t d) { return d == 1; });
    if (vector_like && addend->is_float &&
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
    for (size_t o = 0; o < bias.size(); ++o)
      bias[o] = beta * c->floats[c->floats.size() == 1 ? 0 : o];
  }
  dnnl::primitive_attr attr;
  KILN_RETURN_IF_ERROR(FuseActivation(&output, &attr));

  // A flattened 4-D input is read in its own layout, with the weights seen as [O, C, H, W].
  const bool flat = static_cast<bool>(src_value.flat_source);
  const Dims src_dims = flat ? src_value.source_dims : src_value.dims;
  Dims weight_dims = {out_features};
  weight_dims.insert(weight_dims.end(), src_dims.begin() + 1, src_dims.end());
  const memory& src_mem = flat ? src_value.flat_source : src_value.mem;
  const Dims dst_dims = {src_value.dims[0], out_features};
  const auto make_pd = [&](const memory::desc& src_desc) {
    const dnnl::inner_product_forward::desc desc(
        dnnl::prop_kind::forward_inference, src_desc, memory::desc(weight_dims, kF32, Tag::any),
        memory::desc({out_features}, kF32, Tag::a),
        memory::desc(dst_dims, kF32, rows.mem ? Tag::ab : Tag::any));
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
  AddStep(dnnl::inner_product_forward(pd), {{DNNL_ARG_SRC, src},
                                            {DNNL_ARG_WEIGHTS, w_mem},
                                            {DNNL_ARG_BIAS, b_mem},
                                            {DNNL_ARG_DST, dst}});
  Value out{dst, dst_dims, {}, {}};
  if (rows.mem) {  // back to the input's leading axes
    Dims dims = leading;
    dims.push_back(out_features);
    out.mem = View(out, dims);
    out.dims = dims;
  }
  values_[output] = out;
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
    dst_dims.push_back(
        WindowOutput(in[d], kernel[d], strides[d], 1, pad_begin[d], &pad_end[d], ceil_mode));
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
  if (pd.workspace_desc().get_size() != 0)
    args[DNNL_ARG_WORKSPACE] = memory(pd.workspace_desc(), engine_);
  AddStep(dnnl::pooling_forward(pd), std::move(args));
  values_[n.outputs[0]] = Value{dst, dst_dims, {}, {}};
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

}  // namespace kiln::inference
