#pragma once

// kiln::hvd: the collective runtime (src/collective) for libtorch programs, with the same
// ranks, names and semantics as the Python kiln.hvd (docs/hvd.md). Errors throw
// std::runtime_error with the runtime's message, the same text on every rank.
//
//   kiln::hvd::Init();
//   kiln::hvd::BroadcastParameters(model, 0);
//   torch::optim::Adam adam(model->parameters(), lr * kiln::hvd::Size());
//   kiln::hvd::DistributedOptimizer optimizer(adam, *model);
//   ... loss.backward(); optimizer.Step();   // gradients averaged over every rank

#include <torch/torch.h>

#include <string>
#include <vector>

#include "collective/data_type.h"

namespace kiln::hvd {

// The runtime's element type of a tensor; std::invalid_argument for one it does not carry.
// Shared by this API and the Python binding.
collective::DataType ToDataType(const at::Tensor& tensor);

enum class Op { kAverage = 0, kSum = 1, kMin = 2, kMax = 3, kProduct = 4 };

void Init();      // collective: returns once every rank has called it
void Shutdown();  // collective; also at exit
int Rank();
int Size();
int LocalRank();
int LocalSize();
bool MpiEnabled();

torch::Tensor Allreduce(const torch::Tensor& tensor, const std::string& name, Op op = Op::kAverage);
void Broadcast_(torch::Tensor& tensor, int root, const std::string& name);
void BroadcastParameters(const torch::nn::Module& module, int root = 0);

// Wraps an optimizer: Step() averages every parameter's gradient over the ranks (one
// allreduce per parameter, submitted together so small ones fuse), then steps it.
class DistributedOptimizer {
 public:
  DistributedOptimizer(torch::optim::Optimizer& optimizer, const torch::nn::Module& module);
  void ZeroGrad() { optimizer_.zero_grad(); }
  void Step();

 private:
  torch::optim::Optimizer& optimizer_;
  std::vector<std::pair<std::string, torch::Tensor>> parameters_;
};

}  // namespace kiln::hvd
