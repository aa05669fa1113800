#include "bindings/cpp/hvd.h"

#include <memory>
#include <stdexcept>

#include "collective/runtime.h"

namespace kiln::hvd {
namespace {

namespace col = kiln::collective;

std::unique_ptr<col::Runtime>& Global() {
  static std::unique_ptr<col::Runtime> runtime;
  return runtime;
}

col::Runtime& Runtime() {
  if (!Global()) throw std::runtime_error("kiln::hvd: call kiln::hvd::Init() first");
  return *Global();
}

// An in-place op on a contiguous host tensor.
std::shared_ptr<col::OpHandle> Submit(col::OpType op, torch::Tensor& tensor,
                                      const std::string& name, Op reduce, int root) {
  if (!tensor.device().is_cpu() || !tensor.is_contiguous()) {
    throw std::invalid_argument("kiln::hvd: '" + name +
                                "' must be a contiguous CPU tensor in the C++ API");
  }
  col::TensorEntry entry;
  entry.request.name = name;
  entry.request.op = op;
  entry.request.dtype = ToDataType(tensor);
  entry.request.shape = tensor.sizes().vec();
  entry.request.reduce_op = static_cast<col::ReduceOp>(reduce);
  entry.request.root = root;
  entry.input = tensor.data_ptr();
  entry.output = tensor.data_ptr();
  return Runtime().Enqueue(std::move(entry), /*wake=*/false);
}

void Wait(const std::shared_ptr<col::OpHandle>& handle) {
  const Status status = Runtime().Wait(handle);
  if (!status.ok()) throw std::runtime_error(status.message());
}

}  // namespace

col::DataType ToDataType(const at::Tensor& tensor) {
  switch (tensor.scalar_type()) {
    case torch::kByte:
      return col::DataType::kUInt8;
    case torch::kChar:
      return col::DataType::kInt8;
    case torch::kShort:
      return col::DataType::kInt16;
    case torch::kBool:
      return col::DataType::kBool;
    case torch::kInt:
      return col::DataType::kInt32;
    case torch::kLong:
      return col::DataType::kInt64;
    case torch::kHalf:
      return col::DataType::kFloat16;
    case torch::kFloat:
      return col::DataType::kFloat32;
    case torch::kDouble:
      return col::DataType::kFloat64;
    default:
      throw std::invalid_argument(std::string("kiln.hvd: tensors of dtype ") +
                                  c10::toString(tensor.scalar_type()) +
                                  " are not supported; use float16/32/64, int8/16/32/64, uint8 "
                                  "or bool");
  }
}

void Init() {
  if (Global()) return;
  Result<std::unique_ptr<col::Runtime>> started = col::Runtime::StartFromEnvironment();
  if (!started.ok()) throw std::runtime_error(started.status().message());
  Global() = std::move(started).value();
  std::atexit([] { Shutdown(); });
}

void Shutdown() {
  std::unique_ptr<col::Runtime> runtime = std::move(Global());
  if (runtime) runtime->Shutdown();
}

int Rank() { return Runtime().topology().rank; }
int Size() { return Runtime().topology().size; }
int LocalRank() { return Runtime().topology().local_rank; }
int LocalSize() { return Runtime().topology().local_size; }
bool MpiEnabled() { return Runtime().data_plane().starts_with("mpi"); }

torch::Tensor Allreduce(const torch::Tensor& tensor, const std::string& name, Op op) {
  torch::Tensor out = tensor.to(torch::kCPU).contiguous().clone();
  Wait(Submit(col::OpType::kAllreduce, out, name, op, -1));
  return out;
}

void Broadcast_(torch::Tensor& tensor, int root, const std::string& name) {
  Wait(Submit(col::OpType::kBroadcast, tensor, name, Op::kSum, root));
}

void BroadcastParameters(const torch::nn::Module& module, int root) {
  torch::NoGradGuard no_grad;
  std::vector<std::shared_ptr<col::OpHandle>> handles;
  std::vector<torch::Tensor> tensors;
  for (const auto& item : module.named_parameters()) tensors.push_back(item.value());
  for (const auto& item : module.named_buffers()) tensors.push_back(item.value());
  size_t i = 0;
  for (const auto& item : module.named_parameters()) {
    handles.push_back(
        Submit(col::OpType::kBroadcast, tensors[i++], "parameter." + item.key(), Op::kSum, root));
  }
  for (const auto& item : module.named_buffers()) {
    handles.push_back(
        Submit(col::OpType::kBroadcast, tensors[i++], "buffer." + item.key(), Op::kSum, root));
  }
  for (const auto& handle : handles) Wait(handle);
}

DistributedOptimizer::DistributedOptimizer(torch::optim::Optimizer& optimizer,
                                           const torch::nn::Module& module)
    : optimizer_(optimizer) {
  for (const auto& item : module.named_parameters()) {
    if (item.value().requires_grad()) parameters_.emplace_back(item.key(), item.value());
  }
}

void DistributedOptimizer::Step() {
  std::vector<std::shared_ptr<col::OpHandle>> handles;
  for (auto& [name, parameter] : parameters_) {
    torch::Tensor grad = parameter.mutable_grad();
    if (!grad.defined()) {
      parameter.mutable_grad() = torch::zeros_like(parameter);  // unused: contribute zeros
      grad = parameter.mutable_grad();
    }
    handles.push_back(Submit(col::OpType::kAllreduce, grad, "allreduce." + name, Op::kAverage, -1));
  }
  for (const auto& handle : handles) Wait(handle);
  optimizer_.step();
}

}  // namespace kiln::hvd
