#include "inference/plan.h"

#include <fmt/format.h>

#include <functional>
#include <limits>
#include <numeric>

#include "inference/plan_compiler.h"

namespace kiln::inference {

Tag PlainTag(size_t rank) {
  switch (rank) {
    case 1:
      return Tag::a;
    case 2:
      return Tag::ab;
    case 3:
      return Tag::abc;
    case 4:
      return Tag::abcd;
    case 5:
      return Tag::abcde;
    case 6:
      return Tag::abcdef;
    default:
      return Tag::undef;
  }
}

memory::desc PlainDesc(const Dims& dims) { return memory::desc(dims, kF32, PlainTag(dims.size())); }

namespace {

// Row-major strides, and whether `d` has exactly them; oneDNN's desc equality overlooks the
// strides of dimensions of size 1, which its kernels do not (a [1, 197, 768] view of a
// transpose, strides {768, 768, 1}, runs binary ops on a reference kernel 40x slower).
bool HasPlainStrides(const dnnl_memory_desc_t& d, bool size_one_too) {
  int64_t stride = 1;
  for (int k = d.ndims - 1; k >= 0; --k) {
    if ((size_one_too || d.dims[k] > 1) && d.format_desc.blocking.strides[k] != stride) {
      return false;
    }
    stride *= d.dims[k];
  }
  return true;
}

bool IsUnblocked(const dnnl_memory_desc_t& d) {
  return d.format_kind == dnnl_blocked && d.format_desc.blocking.inner_nblks == 0;
}

}  // namespace

bool IsPermuted(const memory::desc& desc) {
  return IsUnblocked(desc.data) && !HasPlainStrides(desc.data, /*size_one_too=*/true);
}

bool SameBytesAsPlain(const memory::desc& desc, const Dims& dims) {
  const dnnl_memory_desc_t& d = desc.data;
  return IsUnblocked(d) && d.offset0 == 0 && d.data_type == dnnl_f32 &&
         Dims(d.dims, d.dims + d.ndims) == dims &&
         Dims(d.padded_dims, d.padded_dims + d.ndims) == dims &&
         HasPlainStrides(d, /*size_one_too=*/false);
}

int64_t Product(const Dims& dims, size_t from) {
  return std::accumulate(dims.begin() + static_cast<std::ptrdiff_t>(from), dims.end(), int64_t{1},
                         std::multiplies<>());
}

Result<const Constant*> PlanCompiler::FloatConstant(const Node& n, size_t input,
                                                    const char* role) const {
  const Constant* c = input < n.inputs.size() ? FindConstant(n.inputs[input]) : nullptr;
  if (c == nullptr || !c->is_float) {
    return NodeError(
        n, fmt::format("its {} (input {}) must be a float constant (an initializer)", role, input));
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
                                                 const std::set<std::string>& ops, bool any_input) {
  if (graph_outputs_.count(name) != 0) return std::nullopt;
  const auto it = consumers_.find(name);
  if (it == consumers_.end() || it->second.size() != 1) return std::nullopt;
  const size_t j = it->second.front();
  const std::vector<std::string>& inputs = node(j).inputs;
  const bool reads = any_input ? std::find(inputs.begin(), inputs.end(), name) != inputs.end()
                               : !inputs.empty() && inputs[0] == name;
  if (ops.count(node(j).op_type) == 0 || !reads) return std::nullopt;
  return j;
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
  if (value.mem.get_desc() != plain) {
    value.mem = Reorder(value.mem, plain);
  } else if (IsPermuted(value.mem.get_desc())) {
    // Equal to plain by oneDNN's measure but for the strides of size-1 dimensions.
    value.mem = Alias(value.mem, plain);
  }
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

Status PlanCompiler::Compile() {
  if (shapes_.size() != graph_.inputs.size()) {
    return InvalidArgumentError(fmt::format("{}: {} input shapes for {} inputs", origin_,
                                            shapes_.size(), graph_.inputs.size()));
  }
  plan_.inputs_.resize(graph_.inputs.size());
  plan_.int_inputs_.resize(graph_.inputs.size(), nullptr);
  for (size_t k = 0; k < graph_.inputs.size(); ++k) {
    const ValueInfo& input = graph_.inputs[k];
    const Dims& dims = shapes_[k];
    if (IsFloat(input.elem_type)) {
      if (input.elem_type != 1) {
        return InvalidArgumentError(
            fmt::format("{}: input '{}' has ONNX data type {}; Kiln's engine takes float32",
                        origin_, input.name, input.elem_type));
      }
      plan_.inputs_[k] = memory(PlainDesc(dims), engine_, DNNL_MEMORY_NONE);
      input_index_[plan_.inputs_[k].get()] = k;
      values_[input.name] = Value{plan_.inputs_[k], dims, {}, {}};
      continue;
    }
    if (input.elem_type != 7 && input.elem_type != 6) {
      return InvalidArgumentError(fmt::format(
          "{}: input '{}' has ONNX data type {}; Kiln's engine takes float32, int64 and int32",
          origin_, input.name, input.elem_type));
    }
    // Integers are carried as float32 from here: exact for the values ids and masks take.
    memory converted(PlainDesc(dims), engine_);
    // The step keeps the buffer it writes (no primitive may read it: an input read only
    // by Shape).
    float* to = static_cast<float*>(converted.get_data_handle());
    plan_.keep_alive_.push_back(converted);
    const int64_t count = Product(dims);
    const int64_t* const* from = &plan_.int_inputs_[k];
    const std::string name = input.name;
    plan_.steps_.push_back({{}, {}, [to, from, count, name]() -> Status {
                              constexpr int64_t kExact = int64_t{1} << 24;
                              for (int64_t e = 0; e < count; ++e) {
                                const int64_t v = (*from)[e];
                                if (v <= -kExact || v >= kExact) {
                                  return InvalidArgumentError(fmt::format(
                                      "input '{}' holds {}; Kiln's engine takes integers of "
                                      "magnitude below 2^24",
                                      name, v));
                                }
                                to[e] = static_cast<float>(v);
                              }
                              return Status::Ok();
                            }});
    values_[input.name] = Value{converted, dims, {}, {}};
  }
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
      if (Foldable(n)) {
        // Every input a constant: evaluated now. A constant the exporter passes through
        // Identity stays a constant, so the layer reading it can take it as weights.
        status = Fold(i);
      } else if (op == "Conv") {
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
      } else if (op == "ReduceMean" || op == "ReduceSum" || op == "ReduceMax" ||
                 op == "ReduceMin") {
        status = Reduce(i);
      } else if (op == "LayerNormalization") {
        status = LayerNorm(i);
      } else if (op == "LSTM" || op == "GRU" || op == "RNN") {
        status = Recurrent(i);
      } else if (op == "Where") {
        status = Where(i);
      } else if (op == "Softmax" || op == "LogSoftmax") {
        status = Softmax(i);
      } else if (op == "Flatten" || op == "Reshape" || op == "Squeeze" || op == "Unsqueeze") {
        status = Reshape(i);
      } else if (op == "Shape") {
        status = Shape(i);
      } else if (op == "Transpose") {
        status = Transpose(i);
      } else if (op == "Concat") {
        status = Concat(i);
      } else if (op == "Slice") {
        status = Slice(i);
      } else if (op == "Split") {
        status = Split(i);
      } else if (op == "Gather") {
        status = GatherData(i);
      } else if (op == "Pad") {
        status = Pad(i);
      } else if (op == "Cast" && IsFloat(n.Int("to", 0))) {  // float data stays float
        Result<Value*> x = Data(n, 0);
        if (!x.ok()) return x.status();
        values_[n.outputs[0]] = **x;
      } else if (op == "Dropout" || op == "Identity") {  // inference: the input itself
        Result<Value*> x = Data(n, 0);
        if (!x.ok()) return x.status();
        values_[n.outputs[0]] = **x;
      } else {
        return NodeError(n,
                         "this operator is not supported by Kiln's engine (docs/models.md "
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
    const size_t rank = it->second.dims.size();
    if (rank < 1 || rank > 6) {
      return InvalidArgumentError(
          fmt::format("{}: output '{}' has {} dimensions; Kiln's engine gives outputs of 1 to 6",
                      origin_, output.name, rank));
    }
    try {
      const memory plain = Plain(it->second);
      memory out(plain.get_desc(), engine_, DNNL_MEMORY_NONE);
      AddStep(dnnl::reorder(plain, out), {{DNNL_ARG_FROM, plain}, {DNNL_ARG_TO, out}});
      plan_.outputs_.push_back(out);
    } catch (const dnnl::error& e) {
      return InvalidArgumentError(fmt::format("{}: output '{}': oneDNN cannot hold it: {}", origin_,
                                              output.name, e.what()));
    }
    plan_.output_shapes_.emplace_back(it->second.dims.begin(), it->second.dims.end());
  }
  return Status::Ok();
}

Result<std::unique_ptr<Plan>> Plan::Compile(const OnnxGraph& graph,
                                            const std::vector<std::vector<int64_t>>& shapes,
                                            const dnnl::engine& engine, const std::string& origin) {
  std::unique_ptr<Plan> plan(new Plan());
  PlanCompiler compiler(graph, shapes, engine, origin, *plan);
  KILN_RETURN_IF_ERROR(compiler.Compile());
  return plan;
}

int64_t Plan::output_size(size_t i) const {
  return std::accumulate(output_shapes_[i].begin(), output_shapes_[i].end(), int64_t{1},
                         std::multiplies<>());
}

Status Plan::Execute(dnnl::stream& stream, const std::vector<PlanInput>& inputs,
                     const std::vector<float*>& outputs) {
  for (size_t k = 0; k < inputs_.size(); ++k) {
    if (inputs_[k]) inputs_[k].set_data_handle(const_cast<float*>(inputs[k].floats));
    int_inputs_[k] = inputs[k].ints;
  }
  for (auto& [k, alias] : input_aliases_)
    alias.set_data_handle(const_cast<float*>(inputs[k].floats));
  for (size_t i = 0; i < outputs_.size(); ++i) outputs_[i].set_data_handle(outputs[i]);
  for (Step& step : steps_) {
    if (step.run) {
      stream.wait();
      KILN_RETURN_IF_ERROR(step.run());
    } else {
      step.primitive.execute(stream, step.args);
    }
  }
  stream.wait();
  return Status::Ok();
}

}  // namespace kiln::inference
