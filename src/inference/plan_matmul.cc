// PlanCompiler's MatMul of two computed values, or of N-D constants (attention's Q K^T and
// its product with V): oneDNN's matmul, with numpy's broadcast of the batch axes. A MatMul
// by a 2-D constant is a layer instead (Gemm, plan_layers.cc).

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "inference/plan_compiler.h"

namespace kiln::inference {

Status PlanCompiler::MatMul(size_t i) {
  const Node& n = node(i);
  if (n.inputs.size() != 2) return NodeError(n, "needs two inputs");
  Dims in_dims[2];
  for (size_t k = 0; k < 2; ++k) {
    if (const Constant* c = FindConstant(n.inputs[k])) {
      if (!c->is_float) return NodeError(n, fmt::format("input {} is an integer constant", k));
      in_dims[k] = c->dims;
    } else {
      Result<Value*> v = Data(n, k);
      if (!v.ok()) return v.status();
      in_dims[k] = (*v)->dims;
    }
    if (in_dims[k].size() < 2) {
      return NodeError(n, fmt::format("input {} has shape {}; Kiln's engine multiplies matrices of "
                                      "2 or more axes",
                                      k, in_dims[k]));
    }
  }
  const Dims& a = in_dims[0];
  const Dims& b = in_dims[1];
  if (a.back() != b[b.size() - 2]) {
    return NodeError(n, fmt::format("{} and {} do not multiply", a, b));
  }
  Dims batch;
  if (!BroadcastShape(Dims(a.begin(), a.end() - 2), Dims(b.begin(), b.end() - 2), &batch)) {
    return NodeError(n, fmt::format("the batch axes of {} and {} do not broadcast", a, b));
  }
  const auto padded = [&](const Dims& d) {
    Dims out(batch.size() + 2 - d.size(), 1);
    out.insert(out.end(), d.begin(), d.end());
    return out;
  };
  Dims dims = batch;
  dims.push_back(a[a.size() - 2]);
  dims.push_back(b.back());
  memory sources[2];
  for (size_t k = 0; k < 2; ++k) {
    const Dims want = padded(in_dims[k]);
    if (FindConstant(n.inputs[k]) != nullptr) {
      sources[k] = Operand(n, k, want);
    } else {
      sources[k] = View(values_.at(n.inputs[k]), want);
    }
  }
  const dnnl::matmul::primitive_desc pd(
      dnnl::matmul::desc(sources[0].get_desc(), sources[1].get_desc(), PlainDesc(dims)), engine_);
  memory dst(pd.dst_desc(), engine_);
  AddStep(dnnl::matmul(pd),
          {{DNNL_ARG_SRC, sources[0]}, {DNNL_ARG_WEIGHTS, sources[1]}, {DNNL_ARG_DST, dst}});
  values_[n.outputs[0]] = Value{dst, dims, {}, {}};
  return Status::Ok();
}

}  // namespace kiln::inference
