// PlanCompiler's recurrent layers: ONNX LSTM, GRU and RNN as oneDNN's RNN primitives
// (lstm_forward, gru_forward or lbr_gru_forward, vanilla_rnn_forward), one layer a node as
// the exporter writes them. ONNX and oneDNN order the gates differently, and oneDNN takes one
// bias (ONNX's input and recurrence biases summed), so the weights are rearranged here.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "inference/plan_compiler.h"

namespace kiln::inference {

Status PlanCompiler::Recurrent(size_t i) {
  const Node& n = node(i);
  const std::string& op = n.op_type;
  Result<Value*> xr = Data(n, 0);
  if (!xr.ok()) return xr.status();
  Value& x = **xr;
  Result<const Constant*> wr = FloatConstant(n, 1, "input weights (W)");
  if (!wr.ok()) return wr.status();
  Result<const Constant*> rr = FloatConstant(n, 2, "recurrence weights (R)");
  if (!rr.ok()) return rr.status();
  const Constant& w = **wr;
  const Constant& r = **rr;
  const bool lbr = op == "GRU" && n.Int("linear_before_reset", 0) != 0;
  const int64_t gates = op == "LSTM" ? 4 : op == "GRU" ? 3 : 1;
  // oneDNN's gate g is ONNX's gate onnx_gate[g]: LSTM i f c o from ONNX's i o f c; GRU
  // u r o is ONNX's z r h.
  const std::vector<int64_t> onnx_gate = op == "LSTM"  ? std::vector<int64_t>{0, 2, 3, 1}
                                         : op == "GRU" ? std::vector<int64_t>{0, 1, 2}
                                                       : std::vector<int64_t>{0};
  const std::string direction = n.String("direction", "forward");
  const int64_t dirs = direction == "bidirectional" ? 2 : 1;
  const int64_t hidden = n.Int("hidden_size", 0);
  if (x.dims.size() != 3 || n.Int("layout", 0) != 0) {
    return NodeError(n, fmt::format("needs a [sequence, batch, features] input, got {}", x.dims));
  }
  const int64_t steps = x.dims[0], batch = x.dims[1], features = x.dims[2];
  if (hidden < 1 || w.dims != Dims{dirs, gates * hidden, features} ||
      r.dims != Dims{dirs, gates * hidden, hidden}) {
    return NodeError(n, fmt::format("weights {} and {} do not match hidden_size {}, {} input "
                                    "features and direction '{}'",
                                    w.dims, r.dims, hidden, features, direction));
  }
  if (n.has("clip") || n.Int("input_forget", 0) != 0) {
    return NodeError(n, "clip and input_forget are not supported");
  }
  if (op != "RNN" && n.has("activations")) {
    const std::vector<std::string> defaults =
        op == "LSTM" ? std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"}
                     : std::vector<std::string>{"Sigmoid", "Tanh"};
    std::vector<std::string> given = n.Strings("activations", {});
    for (size_t k = 0; k < given.size(); ++k) {
      if (given[k] != defaults[k % defaults.size()]) {
        return NodeError(n,
                         fmt::format("activations {} are not supported (the defaults are)", given));
      }
    }
  }
  const auto input = [&](size_t k) -> const std::string* {
    return k < n.inputs.size() && !n.inputs[k].empty() ? &n.inputs[k] : nullptr;
  };
  if (const std::string* lengths = input(4)) {  // sequence_lens: every sequence whole only
    const Constant* c = FindConstant(*lengths);
    if (c == nullptr ||
        std::any_of(c->ints.begin(), c->ints.end(), [&](int64_t v) { return v != steps; })) {
      return NodeError(n, "sequence_lens must be absent or the whole sequence for every sample");
    }
  }
  if (const std::string* peepholes = input(7)) {
    const Constant* c = FindConstant(*peepholes);
    if (c == nullptr ||
        std::any_of(c->floats.begin(), c->floats.end(), [](float v) { return v != 0; })) {
      return NodeError(n, "peephole weights (P) are not supported");
    }
  }

  // Weights in oneDNN's ldigo ([layer][direction][input][gate][output]) and bias in ldgo.
  std::vector<float> layer(static_cast<size_t>(dirs * features * gates * hidden));
  std::vector<float> iter(static_cast<size_t>(dirs * hidden * gates * hidden));
  const int64_t bias_gates = lbr ? 4 : gates;
  std::vector<float> bias(static_cast<size_t>(dirs * bias_gates * hidden), 0.0f);
  const Constant* b = nullptr;
  if (input(3) != nullptr) {
    Result<const Constant*> br = FloatConstant(n, 3, "bias (B)");
    if (!br.ok()) return br.status();
    b = *br;
    if (b->dims != Dims{dirs, 2 * gates * hidden})
      return NodeError(n, "its bias (B) does not match");
  }
  for (int64_t d = 0; d < dirs; ++d) {
    for (int64_t g = 0; g < gates; ++g) {
      for (int64_t h = 0; h < hidden; ++h) {
        const int64_t row = onnx_gate[g] * hidden + h;
        for (int64_t f = 0; f < features; ++f) {
          layer[((d * features + f) * gates + g) * hidden + h] =
              w.floats[(d * gates * hidden + row) * features + f];
        }
        for (int64_t j = 0; j < hidden; ++j) {
          iter[((d * hidden + j) * gates + g) * hidden + h] =
              r.floats[(d * gates * hidden + row) * hidden + j];
        }
        if (b == nullptr) continue;
        const float input_bias = b->floats[d * 2 * gates * hidden + row];
        const float recurrence_bias = b->floats[d * 2 * gates * hidden + gates * hidden + row];
        // Linear-before-reset GRU keeps the candidate's recurrence bias apart (a 4th gate).
        if (lbr && g == 2) {
          bias[(d * bias_gates + 2) * hidden + h] = input_bias;
          bias[(d * bias_gates + 3) * hidden + h] = recurrence_bias;
        } else {
          bias[(d * bias_gates + g) * hidden + h] = input_bias + recurrence_bias;
        }
      }
    }
  }

  const Dims state_dims = {1, dirs, batch, hidden};
  const auto state = [&](size_t k) -> Result<memory> {  // initial_h or initial_c, or zeros
    const std::string* name = input(k);
    if (name == nullptr) {
      return Weights(PlainDesc(state_dims), state_dims, Tag::abcd,
                     std::vector<float>(static_cast<size_t>(Product(state_dims)), 0.0f));
    }
    if (const Constant* c = FindConstant(*name)) {
      if (!c->is_float || c->size() != Product(state_dims))
        return NodeError(n, "an initial state does not match");
      return Weights(PlainDesc(state_dims), state_dims, Tag::abcd, c->floats);
    }
    Result<Value*> v = Data(n, k);
    if (!v.ok()) return v.status();
    if (Product((*v)->dims) != Product(state_dims))
      return NodeError(n, "an initial state does not match");
    return View(**v, state_dims);
  };
  Result<memory> h0 = state(5);
  if (!h0.ok()) return h0.status();
  Result<memory> c0 = op == "LSTM" ? state(6) : Result<memory>(memory());
  if (!c0.ok()) return c0.status();

  const dnnl::rnn_direction onednn_direction = dirs == 2 ? dnnl::rnn_direction::bidirectional_concat
                                               : direction == "reverse"
                                                   ? dnnl::rnn_direction::unidirectional_right2left
                                                   : dnnl::rnn_direction::unidirectional_left2right;
  const memory src = Plain(x);
  const memory::desc layer_desc({1, dirs, features, gates, hidden}, kF32, Tag::any);
  const memory::desc iter_desc({1, dirs, hidden, gates, hidden}, kF32, Tag::any);
  const memory::desc bias_desc({1, dirs, bias_gates, hidden}, kF32, Tag::ldgo);
  const memory::desc dst_desc = PlainDesc({steps, batch, dirs * hidden});
  const memory::desc state_desc = PlainDesc(state_dims);
  const auto fwd = dnnl::prop_kind::forward_inference;
  dnnl::primitive primitive;
  memory::desc want_layer, want_iter;  // the weight layouts the primitive chose
  const auto take = [&](const auto& pd, dnnl::primitive chosen) {
    primitive = std::move(chosen);
    want_layer = pd.weights_layer_desc();
    want_iter = pd.weights_iter_desc();
  };
  if (op == "LSTM") {
    const dnnl::lstm_forward::primitive_desc pd(
        dnnl::lstm_forward::desc(fwd, onednn_direction, src.get_desc(), state_desc, state_desc,
                                 layer_desc, iter_desc, bias_desc, dst_desc, state_desc,
                                 state_desc),
        engine_);
    take(pd, dnnl::lstm_forward(pd));
  } else if (op == "GRU" && lbr) {
    const dnnl::lbr_gru_forward::primitive_desc pd(
        dnnl::lbr_gru_forward::desc(fwd, onednn_direction, src.get_desc(), state_desc, layer_desc,
                                    iter_desc, bias_desc, dst_desc, state_desc),
        engine_);
    take(pd, dnnl::lbr_gru_forward(pd));
  } else if (op == "GRU") {
    const dnnl::gru_forward::primitive_desc pd(
        dnnl::gru_forward::desc(fwd, onednn_direction, src.get_desc(), state_desc, layer_desc,
                                iter_desc, bias_desc, dst_desc, state_desc),
        engine_);
    take(pd, dnnl::gru_forward(pd));
  } else {
    std::vector<std::string> activations = n.Strings("activations", {"Tanh"});
    if (activations.empty()) activations = {"Tanh"};
    const bool same = std::all_of(activations.begin(), activations.end(),
                                  [&](const std::string& a) { return a == activations.front(); });
    if (!same || (activations.front() != "Relu" && activations.front() != "Tanh")) {
      return NodeError(n, fmt::format("activations {} are not supported (Tanh or Relu, the same "
                                      "in both directions, are)",
                                      activations));
    }
    const dnnl::algorithm activation = activations.front() == "Relu"
                                           ? dnnl::algorithm::eltwise_relu
                                           : dnnl::algorithm::eltwise_tanh;
    const dnnl::vanilla_rnn_forward::primitive_desc pd(
        dnnl::vanilla_rnn_forward::desc(fwd, activation, onednn_direction, src.get_desc(),
                                        state_desc, layer_desc, iter_desc, bias_desc, dst_desc,
                                        state_desc),
        engine_);
    take(pd, dnnl::vanilla_rnn_forward(pd));
  }
  memory dst(dst_desc, engine_);
  memory dst_h(state_desc, engine_);
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC_LAYER, src},
      {DNNL_ARG_SRC_ITER, *h0},
      {DNNL_ARG_WEIGHTS_LAYER,
       Weights(want_layer, {1, dirs, features, gates, hidden}, Tag::ldigo, layer)},
      {DNNL_ARG_WEIGHTS_ITER,
       Weights(want_iter, {1, dirs, hidden, gates, hidden}, Tag::ldigo, iter)},
      {DNNL_ARG_BIAS, Weights(bias_desc, {1, dirs, bias_gates, hidden}, Tag::ldgo, bias)},
      {DNNL_ARG_DST_LAYER, dst},
      {DNNL_ARG_DST_ITER, dst_h}};
  memory dst_c;
  if (op == "LSTM") {
    dst_c = memory(state_desc, engine_);
    args[DNNL_ARG_SRC_ITER_C] = *c0;
    args[DNNL_ARG_DST_ITER_C] = dst_c;
  }
  AddStep(primitive, std::move(args));

  // Y is [sequence, direction, batch, hidden]: oneDNN's [sequence, batch, direction * hidden]
  // seen with strides.
  if (n.outputs.size() > 0 && !n.outputs[0].empty()) {
    const Dims y_dims = {steps, dirs, batch, hidden};
    const memory::desc y_desc(y_dims, kF32, Dims{batch * dirs * hidden, hidden, dirs * hidden, 1});
    values_[n.outputs[0]] = Value{Alias(dst, y_desc), y_dims, {}, {}};
  }
  const Dims last = {dirs, batch, hidden};
  if (n.outputs.size() > 1 && !n.outputs[1].empty()) {
    values_[n.outputs[1]] = Value{Alias(dst_h, PlainDesc(last)), last, {}, {}};
  }
  if (n.outputs.size() > 2 && !n.outputs[2].empty()) {
    values_[n.outputs[2]] = Value{Alias(dst_c, PlainDesc(last)), last, {}, {}};
  }
  return Status::Ok();
}

}  // namespace kiln::inference
