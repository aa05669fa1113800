#include "inference/engine.h"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstring>
#include <functional>
#include <numeric>
#include <oneapi/dnnl/dnnl.hpp>
#include <thread>

#include "inference/plan.h"

namespace kiln::inference {

struct Engine::OneDnn {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
};

Engine::Engine(OnnxGraph graph, std::string path, int threads, std::int64_t max_plan_batch)
    : graph_(std::move(graph)),
      path_(std::move(path)),
      threads_(threads),
      max_plan_batch_(static_cast<std::int64_t>(
          std::bit_floor(static_cast<std::uint64_t>(std::max<std::int64_t>(1, max_plan_batch))))),
      onednn_(std::make_unique<OneDnn>()) {
  for (size_t d = 1; d < input().shape.size(); ++d) {
    sample_size_ = input().shape[d] == kDynamicDim ? 0 : sample_size_ * input().shape[d];
  }
}

Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::Load(const std::string& path, EngineOptions options) {
  Result<OnnxGraph> graph = ReadOnnxGraph(path);
  if (!graph.ok()) return graph.status();
  if (graph->inputs.empty()) {
    return InvalidArgumentError(fmt::format("{}: the model has no inputs", path));
  }
  for (const ValueInfo& input : graph->inputs) {
    if (input.shape.empty()) {
      return InvalidArgumentError(
          fmt::format("{}: input '{}' is a scalar; Kiln's engine takes inputs with the batch first",
                      path, input.name));
    }
  }
  const int threads = options.threads > 0
                          ? options.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::unique_ptr<Engine> engine(
      new Engine(std::move(graph).value(), path, threads, options.max_plan_batch));
  std::lock_guard lock(engine->mutex_);
  Shapes probe;
  for (const ValueInfo& input : engine->inputs()) {
    probe.push_back(input.shape);
    for (size_t d = 0; d < input.shape.size(); ++d) {
      if (input.shape[d] == kDynamicDim) probe.back()[d] = d == 0 ? 1 : 8;
    }
  }
  Result<Plan*> plan = engine->PlanFor(probe);
  if (!plan.ok()) return plan.status();
  return engine;
}

Result<Plan*> Engine::PlanFor(const Shapes& shapes) {
  auto it = plans_.find(shapes);
  if (it == plans_.end()) {
    omp_set_num_threads(threads_);
    Result<std::unique_ptr<Plan>> plan = Plan::Compile(graph_, shapes, onednn_->engine, path_);
    if (!plan.ok()) return plan.status();
    if (plans_.size() >= kMaxPlans) {
      plans_.erase(std::min_element(plans_.begin(), plans_.end(), [](const auto& a, const auto& b) {
        return a.second.last_used < b.second.last_used;
      }));
    }
    it = plans_.emplace(shapes, CachedPlan{std::move(plan).value()}).first;
  }
  it->second.last_used = ++uses_;
  return it->second.plan.get();
}

Status Engine::Check(std::span<const InputTensor> inputs, int64_t* batch) const {
  if (inputs.size() != graph_.inputs.size()) {
    return InvalidArgumentError(fmt::format("the model takes {} inputs ({}); {} were given",
                                            graph_.inputs.size(), InputNames(), inputs.size()));
  }
  *batch = 0;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const ValueInfo& want = graph_.inputs[k];
    const InputTensor& got = inputs[k];
    const bool is_float = want.elem_type == 1;
    const std::string where = fmt::format("input '{}'", want.name);
    if (got.shape.size() != want.shape.size()) {
      return InvalidArgumentError(fmt::format("{} has {} dimensions; the model's has {} ({})",
                                              where, got.shape.size(), want.shape.size(),
                                              ShapeText(want.shape)));
    }
    int64_t count = 1;
    for (size_t d = 0; d < want.shape.size(); ++d) {
      if (got.shape[d] < 1 || (want.shape[d] != kDynamicDim && got.shape[d] != want.shape[d])) {
        return InvalidArgumentError(fmt::format("{} has shape {}; the model's is {}", where,
                                                ShapeText(got.shape), ShapeText(want.shape)));
      }
      count *= got.shape[d];
    }
    const size_t have = is_float ? got.floats.size() : got.ints.size();
    if ((is_float ? !got.ints.empty() : !got.floats.empty()) ||
        static_cast<int64_t>(have) != count) {
      return InvalidArgumentError(fmt::format("{} needs {} {} values for shape {}; {} were given",
                                              where, count, is_float ? "float32" : "integer",
                                              ShapeText(got.shape),
                                              got.floats.size() + got.ints.size()));
    }
    if (want.shape[0] == kDynamicDim) {
      if (*batch != 0 && got.shape[0] != *batch) {
        return InvalidArgumentError(fmt::format("{} has a batch of {}; the inputs before it, {}",
                                                where, got.shape[0], *batch));
      }
      *batch = got.shape[0];
    }
  }
  if (*batch == 0) *batch = inputs[0].shape[0];
  // Open dimensions the model names alike (a sequence length) must be given alike.
  for (size_t k = 0; k < inputs.size(); ++k) {
    const std::vector<std::string>& names = graph_.inputs[k].dim_names;
    for (size_t d = 1; d < names.size(); ++d) {
      for (size_t j = 0; j < k && !names[d].empty(); ++j) {
        const std::vector<std::string>& before = graph_.inputs[j].dim_names;
        if (before.size() < 2) continue;
        const auto same = std::find(before.begin() + 1, before.end(), names[d]);
        if (same == before.end()) continue;
        const int64_t size = inputs[j].shape[static_cast<size_t>(same - before.begin())];
        if (inputs[k].shape[d] != size) {
          return InvalidArgumentError(
              fmt::format("input '{}' has shape {}, and input '{}' {}: the model gives both a '{}' "
                          "dimension, so it must be the same size in both",
                          graph_.inputs[j].name, ShapeText(inputs[j].shape), graph_.inputs[k].name,
                          ShapeText(inputs[k].shape), names[d]));
        }
      }
    }
  }
  return Status::Ok();
}

Result<std::vector<Tensor>> Engine::Run(std::span<const float> input, int64_t batch) {
  if (graph_.inputs.size() != 1 || graph_.inputs[0].elem_type != 1 || sample_size_ == 0) {
    return InvalidArgumentError(
        fmt::format("the model takes {}; send each input with its shape", InputNames()));
  }
  if (batch < 1 || static_cast<int64_t>(input.size()) != batch * sample_size_) {
    return InvalidArgumentError(
        fmt::format("the input holds {} floats; a batch of {} needs {} ({} per sample)",
                    input.size(), batch, batch * sample_size_, sample_size_));
  }
  if (!dynamic_batch() && batch != fixed_batch()) {
    return InvalidArgumentError(fmt::format(
        "the model was exported for batches of {} exactly; export it with a dynamic batch to "
        "score {}",
        fixed_batch(), batch));
  }
  InputTensor tensor{graph_.inputs[0].shape, input, {}};
  tensor.shape[0] = batch;
  return Run(std::span<const InputTensor>(&tensor, 1));
}

Result<std::vector<Tensor>> Engine::Run(std::span<const InputTensor> inputs) {
  int64_t batch = inputs.empty() || inputs[0].shape.empty() ? 0 : inputs[0].shape[0];
  if (!dynamic_batch() && inputs.size() == graph_.inputs.size() && batch != fixed_batch()) {
    return InvalidArgumentError(fmt::format(
        "the model was exported for batches of {} exactly; export it with a dynamic batch to "
        "score {}",
        fixed_batch(), batch));
  }
  KILN_RETURN_IF_ERROR(Check(inputs, &batch));
  std::lock_guard lock(mutex_);
  omp_set_num_threads(threads_);  // per calling thread in OpenMP
  // The pieces: the whole batch when it has a plan (a fixed batch), otherwise full pieces
  // of the largest plan and the rest's binary decomposition.
  Shapes shapes;
  for (const InputTensor& t : inputs) shapes.push_back(t.shape);
  std::vector<int64_t> pieces;
  if (!dynamic_batch() || !batch_first() || plans_.count(shapes) != 0) {
    pieces.push_back(batch);
  } else {
    const int64_t rest = batch % max_plan_batch_;
    pieces.assign(static_cast<size_t>(batch / max_plan_batch_), max_plan_batch_);
    for (int64_t bit = max_plan_batch_ / 2; bit > 0; bit >>= 1) {
      if ((rest & bit) != 0) pieces.push_back(bit);
    }
  }
  if (pieces.size() > 1) {
    // Pieces need every output's batch axis; an output whose axis cannot be told (a
    // recurrent state, [directions, batch, hidden], declared batch first) makes the batch
    // one piece with a plan of its own.
    Shapes first = shapes;
    for (size_t k = 0; k < inputs.size(); ++k) {
      if (graph_.inputs[k].shape[0] == kDynamicDim) first[k][0] = pieces[0];
    }
    Result<Plan*> plan = PlanFor(first);
    if (!plan.ok()) return plan.status();
    for (size_t o = 0; o < graph_.outputs.size(); ++o) {
      if (!BatchAxis(o, (*plan)->output_shape(o), pieces[0])) pieces = {batch};
    }
  }
  std::vector<Tensor> outputs(graph_.outputs.size());
  int64_t done = 0;
  for (size_t p = 0; p < pieces.size(); ++p) {
    const int64_t piece = pieces[p];
    // Each batch-first input from sample `done`, `piece` samples of it.
    std::vector<PlanInput> at_inputs(inputs.size());
    for (size_t k = 0; k < inputs.size(); ++k) {
      const bool batched = graph_.inputs[k].shape[0] == kDynamicDim;
      shapes[k][0] = batched ? piece : inputs[k].shape[0];
      const int64_t per_sample = batched ? Count(inputs[k].shape) / batch : 0;
      at_inputs[k] = {
          inputs[k].floats.empty() ? nullptr : inputs[k].floats.data() + done * per_sample,
          inputs[k].ints.empty() ? nullptr : inputs[k].ints.data() + done * per_sample};
    }
    Result<Plan*> plan = PlanFor(shapes);
    if (!plan.ok()) return plan.status();
    std::vector<size_t> axes(outputs.size(), 0);
    for (size_t o = 0; o < outputs.size() && pieces.size() > 1; ++o) {
      const std::vector<int64_t>& shape = (*plan)->output_shape(o);
      const std::optional<size_t> axis = BatchAxis(o, shape, piece);
      bool fits = axis.has_value() && (p == 0 || shape.size() == outputs[o].shape.size());
      for (size_t a = 0; fits && p > 0 && a < shape.size(); ++a) {
        fits = a == *axis || shape[a] == outputs[o].shape[a];
      }
      if (!fits) {
        return InternalError(fmt::format(
            "{}: output '{}' has shape {} for a piece of {} samples, unlike the pieces before",
            path_, graph_.outputs[o].name, ShapeText(shape), piece));
      }
      axes[o] = *axis;
    }
    // Outputs batched on axis 0 are written in place; others through a buffer of the piece.
    std::vector<std::vector<float>> staged(outputs.size());
    std::vector<float*> at(outputs.size());
    for (size_t o = 0; o < outputs.size(); ++o) {
      Tensor& out = outputs[o];
      const std::vector<int64_t>& shape = (*plan)->output_shape(o);
      if (p == 0) {
        out.name = graph_.outputs[o].name;
        out.shape = shape;
        out.shape[axes[o]] = pieces.size() > 1 ? batch : shape[axes[o]];
        out.values.resize(static_cast<size_t>(Count(out.shape)));
      }
      if (axes[o] == 0) {
        at[o] = out.values.data() + done * (Count(shape) / piece);
      } else {
        staged[o].resize(static_cast<size_t>(Count(shape)));
        at[o] = staged[o].data();
      }
    }
    KILN_RETURN_IF_ERROR((*plan)->Execute(onednn_->stream, at_inputs, at));
    for (size_t o = 0; o < outputs.size(); ++o) {
      if (axes[o] == 0) continue;
      // Blocks of [outer][piece * inner] into [outer][batch * inner] at `done`.
      const std::vector<int64_t>& shape = (*plan)->output_shape(o);
      const int64_t inner =
          Count({shape.begin() + static_cast<std::ptrdiff_t>(axes[o]) + 1, shape.end()});
      const int64_t outer =
          Count({shape.begin(), shape.begin() + static_cast<std::ptrdiff_t>(axes[o])});
      for (int64_t b = 0; b < outer; ++b) {
        std::copy_n(staged[o].data() + b * piece * inner, piece * inner,
                    outputs[o].values.data() + (b * batch + done) * inner);
      }
    }
    done += piece;
  }
  for (size_t o = 0; o < outputs.size(); ++o) {
    outputs[o].batch_axis = BatchAxis(o, outputs[o].shape, batch);
  }
  return outputs;
}

std::optional<size_t> Engine::BatchAxis(size_t output, const std::vector<int64_t>& shape,
                                        int64_t piece) const {
  const std::vector<std::string>& batch_name = graph_.inputs[0].dim_names;
  const std::vector<std::string>& names = graph_.outputs[output].dim_names;
  if (!batch_name.empty() && !batch_name[0].empty()) {
    for (size_t a = 0; a < names.size() && a < shape.size(); ++a) {
      if (names[a] == batch_name[0]) {
        return shape[a] == piece ? std::optional<size_t>(a) : std::nullopt;
      }
    }
  }
  // The first axis, unless it is named like another dimension of an input (a sequence).
  if (shape.empty() || shape[0] != piece) return std::nullopt;
  for (const ValueInfo& input : graph_.inputs) {
    for (size_t d = 1; d < input.dim_names.size() && !names.empty(); ++d) {
      if (!names[0].empty() && input.dim_names[d] == names[0]) return std::nullopt;
    }
  }
  return 0;
}

int64_t Engine::Count(const std::vector<int64_t>& shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
}

bool Engine::batch_first() const {
  if (!dynamic_batch()) return false;
  std::string name = input().dim_names.empty() ? "" : input().dim_names[0];
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return name.empty() || name.find("batch") != std::string::npos;
}

std::string Engine::InputNames() const {
  std::string names;
  for (const ValueInfo& input : graph_.inputs) {
    names += fmt::format("{}{} {} {}", names.empty() ? "" : ", ", input.name,
                         input.elem_type == 1 ? "float32" : "integer", ShapeText(input.shape));
  }
  return names;
}

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t d = 0; d < shape.size(); ++d) {
    text += (d == 0 ? "" : ", ") +
            (shape[d] == kDynamicDim ? std::string("?") : std::to_string(shape[d]));
  }
  return text + "]";
}

}  // namespace kiln::inference
