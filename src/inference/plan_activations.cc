// PlanCompiler's activations: element-wise functions of one value, as oneDNN eltwise
// chains. A chain reading a Conv's or Gemm's output alone folds into it as post-ops, and
// the forms the exporter writes for functions ONNX (before opset 20) has no operator for
// are recognised: SiLU (x * Sigmoid(x)) and GELU (x * 0.5 * (1 + Erf(x / sqrt 2))).

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "inference/plan_compiler.h"

namespace kiln::inference {

const std::set<std::string>& ActivationOps() {
  static const std::set<std::string> ops = {
      "Relu",     "LeakyRelu", "Sigmoid", "Tanh", "Elu",  "Clip", "HardSigmoid", "HardSwish",
      "Softplus", "Exp",       "Log",     "Abs",  "Sqrt", "Neg",  "Reciprocal",  "Pow"};
  return ops;
}

Result<std::vector<Activation>> PlanCompiler::ActivationOf(const Node& n) const {
  using dnnl::algorithm;
  const std::string& op = n.op_type;
  if (op == "Relu") return std::vector<Activation>{{algorithm::eltwise_relu}};
  if (op == "LeakyRelu")
    return std::vector<Activation>{{algorithm::eltwise_relu, n.Float("alpha", 0.01f)}};
  if (op == "Sigmoid") return std::vector<Activation>{{algorithm::eltwise_logistic}};
  if (op == "Tanh") return std::vector<Activation>{{algorithm::eltwise_tanh}};
  if (op == "Elu") return std::vector<Activation>{{algorithm::eltwise_elu, n.Float("alpha", 1.0f)}};
  if (op == "HardSigmoid") {
    return std::vector<Activation>{
        {algorithm::eltwise_linear, n.Float("alpha", 0.2f), n.Float("beta", 0.5f)},
        {algorithm::eltwise_clip, 0.0f, 1.0f}};
  }
  if (op == "HardSwish") return std::vector<Activation>{{algorithm::eltwise_hardswish}};
  if (op == "Softplus") return std::vector<Activation>{{algorithm::eltwise_soft_relu}};
  if (op == "Exp") return std::vector<Activation>{{algorithm::eltwise_exp}};
  if (op == "Log") return std::vector<Activation>{{algorithm::eltwise_log}};
  if (op == "Abs") return std::vector<Activation>{{algorithm::eltwise_abs}};
  if (op == "Sqrt") return std::vector<Activation>{{algorithm::eltwise_sqrt}};
  if (op == "Neg") return std::vector<Activation>{{algorithm::eltwise_linear, -1.0f, 0.0f}};
  if (op == "Reciprocal") return std::vector<Activation>{{algorithm::eltwise_pow, 1.0f, -1.0f}};
  if (op == "Pow") {
    const Constant* e = n.inputs.size() == 2 ? FindConstant(n.inputs[1]) : nullptr;
    if (e == nullptr || e->size() != 1) {
      return NodeError(n, "its exponent must be a scalar constant");
    }
    const float exponent = e->is_float ? e->floats[0] : static_cast<float>(e->ints[0]);
    return std::vector<Activation>{{algorithm::eltwise_pow, 1.0f, exponent}};
  }
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
  return std::vector<Activation>{{algorithm::eltwise_clip, low, high}};
}

std::optional<size_t> PlanCompiler::OnlyConsumer(const std::string& name, const std::string& op) {
  if (graph_outputs_.count(name) != 0) return std::nullopt;
  const auto it = consumers_.find(name);
  if (it == consumers_.end() || it->second.size() != 1 || node(it->second[0]).op_type != op) {
    return std::nullopt;
  }
  return it->second[0];
}

bool PlanCompiler::IsScalar(const std::string& name, float value) const {
  const Constant* c = FindConstant(name);
  return c != nullptr && c->size() == 1 &&
         std::abs((c->is_float ? c->floats[0] : static_cast<float>(c->ints[0])) - value) <=
             1e-6f * std::max(1.0f, std::abs(value));
}

std::optional<PlanCompiler::ActivationMatch> PlanCompiler::MatchActivation(
    const std::string& x, bool exclusive, std::optional<size_t> starting_at) {
  const auto it = consumers_.find(x);
  if (it == consumers_.end() || (exclusive && graph_outputs_.count(x) != 0)) return std::nullopt;
  const std::vector<size_t>& readers = it->second;
  const auto other_input = [&](const Node& n, const std::string& name) -> const std::string* {
    if (n.inputs.size() != 2) return nullptr;
    if (n.inputs[0] == name) return &n.inputs[1];
    if (n.inputs[1] == name) return &n.inputs[0];
    return nullptr;
  };
  const auto reads = [&](size_t j, const std::string& op) {
    return node(j).op_type == op && !node(j).inputs.empty();
  };
  for (const size_t j : readers) {
    if (starting_at && j != *starting_at) continue;
    const Node& first = node(j);
    // SiLU: Sigmoid(x) read only by a Mul with x.
    if (reads(j, "Sigmoid") && first.inputs[0] == x) {
      const std::optional<size_t> mul = OnlyConsumer(first.outputs[0], "Mul");
      const std::string* other = mul ? other_input(node(*mul), first.outputs[0]) : nullptr;
      if (other != nullptr && *other == x && (!exclusive || readers.size() == 2)) {
        return ActivationMatch{
            {{dnnl::algorithm::eltwise_swish, 1.0f}}, {j, *mul}, node(*mul).outputs[0]};
      }
    }
    // GELU: Div(x, sqrt 2) -> Erf -> Add 1 -> Mul with x -> Mul 0.5.
    if (reads(j, "Div") && first.inputs.size() == 2 && first.inputs[0] == x &&
        IsScalar(first.inputs[1], std::sqrt(2.0f))) {
      const std::optional<size_t> erf = OnlyConsumer(first.outputs[0], "Erf");
      const std::optional<size_t> add =
          erf ? OnlyConsumer(node(*erf).outputs[0], "Add") : std::nullopt;
      const std::string* one = add ? other_input(node(*add), node(*erf).outputs[0]) : nullptr;
      if (one == nullptr || !IsScalar(*one, 1.0f)) continue;
      const std::optional<size_t> mul = OnlyConsumer(node(*add).outputs[0], "Mul");
      const std::string* other = mul ? other_input(node(*mul), node(*add).outputs[0]) : nullptr;
      if (other == nullptr || *other != x) continue;
      const std::optional<size_t> half = OnlyConsumer(node(*mul).outputs[0], "Mul");
      const std::string* h = half ? other_input(node(*half), node(*mul).outputs[0]) : nullptr;
      if (h == nullptr || !IsScalar(*h, 0.5f) || (exclusive && readers.size() != 2)) continue;
      return ActivationMatch{{{dnnl::algorithm::eltwise_gelu_erf}},
                             {j, *erf, *add, *mul, *half},
                             node(*half).outputs[0]};
    }
  }
  if (readers.size() == 1 && ActivationOps().count(node(readers[0]).op_type) != 0 &&
      node(readers[0]).inputs[0] == x && (!exclusive || graph_outputs_.count(x) == 0)) {
    Result<std::vector<Activation>> chain = ActivationOf(node(readers[0]));
    if (chain.ok()) return ActivationMatch{*chain, {readers[0]}, node(readers[0]).outputs[0]};
  }
  return std::nullopt;
}

Status PlanCompiler::FuseActivation(std::string* output, dnnl::primitive_attr* attr) {
  const std::optional<ActivationMatch> match = MatchActivation(*output, /*exclusive=*/true);
  if (!match) return Status::Ok();
  dnnl::post_ops ops = attr->get_post_ops();  // after those already there
  for (const Activation& a : match->chain) ops.append_eltwise(1.0f, a.algorithm, a.alpha, a.beta);
  attr->set_post_ops(ops);
  for (const size_t j : match->nodes) fused_[j] = true;
  *output = match->output;
  return Status::Ok();
}

Status PlanCompiler::Eltwise(size_t i) {
  const Node& n = node(i);
  // A pattern this node starts (SiLU) runs as one function; else the node alone.
  std::optional<ActivationMatch> match = MatchActivation(n.inputs[0], /*exclusive=*/false, i);
  if (!match) {
    Result<std::vector<Activation>> chain = ActivationOf(n);
    if (!chain.ok()) return chain.status();
    match = ActivationMatch{*chain, {i}, n.outputs[0]};
  }
  return EmitActivation(i, *match);
}

Status PlanCompiler::EmitActivation(size_t i, const ActivationMatch& match) {
  Result<Value*> xr = Data(node(i), 0);
  if (!xr.ok()) return xr.status();
  Value& x = **xr;
  const memory src = x.flat_source ? Plain(x) : x.mem;
  const Activation& head = match.chain.front();
  dnnl::post_ops ops;
  for (size_t k = 1; k < match.chain.size(); ++k) {
    ops.append_eltwise(1.0f, match.chain[k].algorithm, match.chain[k].alpha, match.chain[k].beta);
  }
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  const dnnl::eltwise_forward::primitive_desc pd(
      dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, head.algorithm,
                                  src.get_desc(), head.alpha, head.beta),
      attr, engine_);
  memory dst(pd.dst_desc(), engine_);
  AddStep(dnnl::eltwise_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
  for (const size_t j : match.nodes) fused_[j] = true;
  values_[match.output] = Value{dst, x.dims, {}, {}};
  return Status::Ok();
}

}  // namespace kiln::inference
