// Fashion-MNIST CNN in C++ with libtorch, on several ranks with kiln::hvd: the same model,
// data shards, learning-rate scaling and one-cycle schedule as train_hvd.py. Built by the
// project as build/examples/fashion-mnist/train_cpp; job-cpp-mpi.yaml and job-cpp-gloo.yaml
// run it. Rank 0 logs through Kiln's C++ Run API and writes outputs/metrics.json.
//
//   train_cpp --data_dir DIR [--epochs 5] [--batch_size 64] [--base_lr 0.0015]
//             [--train_limit N] [--test_limit N] [--seed 0]

#include <sched.h>
#include <torch/torch.h>
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>

#include "bindings/cpp/hvd.h"
#include "tracking/run.h"

namespace hvd = kiln::hvd;
using torch::indexing::None;
using torch::indexing::Slice;

namespace {

// An idx file (gzip or plain): images as [N, 1, rows, cols] uint8, labels as [N] uint8.
torch::Tensor ReadIdx(const std::string& base) {
  const std::string path = std::filesystem::exists(base + ".gz") ? base + ".gz" : base;
  gzFile file = gzopen(path.c_str(), "rb");  // reads plain files as they are too
  if (file == nullptr) throw std::runtime_error(path + ": cannot open");
  std::vector<unsigned char> data;
  unsigned char chunk[1 << 16];
  int n = 0;
  while ((n = gzread(file, chunk, sizeof(chunk))) > 0) data.insert(data.end(), chunk, chunk + n);
  gzclose(file);
  const auto word = [&](size_t at) {
    return static_cast<int64_t>(data.at(at)) << 24 | data.at(at + 1) << 16 | data.at(at + 2) << 8 |
           data.at(at + 3);
  };
  const int64_t magic = word(0), count = word(4);
  if (magic == 2051) {
    const int64_t rows = word(8), cols = word(12);
    return torch::from_blob(data.data() + 16, {count, 1, rows, cols}, torch::kUInt8).clone();
  }
  if (magic == 2049) return torch::from_blob(data.data() + 8, {count}, torch::kUInt8).clone();
  throw std::runtime_error(path + ": not an idx file");
}

struct FashionCNNImpl : torch::nn::Module {
  FashionCNNImpl()
      : conv1(register_module("conv1",
                              torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 16, 3).padding(1)))),
        bn1(register_module("bn1", torch::nn::BatchNorm2d(16))),
        conv2(register_module("conv2",
                              torch::nn::Conv2d(torch::nn::Conv2dOptions(16, 32, 3).padding(1)))),
        bn2(register_module("bn2", torch::nn::BatchNorm2d(32))),
        fc1(register_module("fc1", torch::nn::Linear(32 * 7 * 7, 128))),
        dropout(register_module("dropout", torch::nn::Dropout(0.25))),
        fc2(register_module("fc2", torch::nn::Linear(128, 10))) {}

  torch::Tensor forward(torch::Tensor x) {
    x = torch::max_pool2d(torch::relu(bn1(conv1(x))), 2);
    x = torch::max_pool2d(torch::relu(bn2(conv2(x))), 2);
    x = dropout(torch::relu(fc1(x.flatten(1))));
    return fc2(x);
  }

  torch::nn::Conv2d conv1;
  torch::nn::BatchNorm2d bn1;
  torch::nn::Conv2d conv2;
  torch::nn::BatchNorm2d bn2;
  torch::nn::Linear fc1;
  torch::nn::Dropout dropout;
  torch::nn::Linear fc2;
};
TORCH_MODULE(FashionCNN);

// One-cycle: cosine from max/25 up to max over the first 30% of steps, then down to
// max/25/10^4, as torch.optim.lr_scheduler.OneCycleLR does by default.
double OneCycle(int64_t step, int64_t total, double max_lr) {
  const double start = max_lr / 25, end = start / 1e4;
  const auto cosine = [](double from, double to, double pct) {
    return to + (from - to) / 2 * (1 + std::cos(M_PI * pct));
  };
  const double warm = 0.3 * static_cast<double>(total);
  const auto s = static_cast<double>(step);
  if (s < warm) return cosine(start, max_lr, s / warm);
  return cosine(max_lr, end, (s - warm) / (static_cast<double>(total) - warm));
}

double Average(double value, const std::string& name) {
  return hvd::Allreduce(torch::tensor(value, torch::kFloat64), name).item<double>();
}

}  // namespace

int main(int argc, char** argv) try {
  std::map<std::string, std::string> args = {{"--epochs", "5"},       {"--batch_size", "64"},
                                             {"--base_lr", "0.0015"}, {"--train_limit", "0"},
                                             {"--test_limit", "0"},   {"--seed", "0"}};
  for (int i = 1; i + 1 < argc; i += 2) args[argv[i]] = argv[i + 1];
  if (!args.count("--data_dir")) throw std::invalid_argument("--data_dir is required");
  const int epochs = std::stoi(args["--epochs"]);
  const int64_t batch = std::stoll(args["--batch_size"]);
  const double base_lr = std::stod(args["--base_lr"]);
  const int seed = std::stoi(args["--seed"]);

  hvd::Init();
  const int rank = hvd::Rank(), world = hvd::Size();
  cpu_set_t cpus;
  sched_getaffinity(0, sizeof(cpus), &cpus);
  torch::set_num_threads(std::max(1, CPU_COUNT(&cpus) / hvd::LocalSize()));
  torch::manual_seed(seed + rank);  // different on purpose: the broadcast makes them equal
  kiln::tracking::Run& run = kiln::tracking::Run::GetContext();
  std::printf("rank %d of %d (%s data plane)\n", rank, world, hvd::MpiEnabled() ? "mpi" : "tcp");
  std::fflush(stdout);

  const auto load = [&](const std::string& prefix, const std::string& limit) {
    torch::Tensor x = ReadIdx(args["--data_dir"] + "/" + prefix + "-images-idx3-ubyte");
    torch::Tensor y = ReadIdx(args["--data_dir"] + "/" + prefix + "-labels-idx1-ubyte");
    if (const int64_t n = std::stoll(limit); n > 0) {
      x = x.slice(0, 0, n);
      y = y.slice(0, 0, n);
    }
    return std::pair{x.to(torch::kFloat32) / 255.0, y.to(torch::kInt64)};
  };
  auto [train_x, train_y] = load("train", args["--train_limit"]);
  auto [test_x, test_y] = load("t10k", args["--test_limit"]);
  const torch::Tensor mean = train_x.mean(), std = train_x.std();
  train_x = (train_x - mean) / std;
  test_x = ((test_x - mean) / std).index({Slice(rank, None, world)});
  test_y = test_y.index({Slice(rank, None, world)});

  FashionCNN model;
  hvd::BroadcastParameters(*model, 0);
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(base_lr * world));
  hvd::DistributedOptimizer optimizer(adam, *model);
  const int64_t steps_per_epoch = train_x.size(0) / (batch * world);
  const int64_t total_steps = epochs * steps_per_epoch;

  double first_loss = -1, test_accuracy = 0, test_loss = 0, train_loss = 0;
  int64_t step = 0;
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    model->train();
    torch::manual_seed(seed + 1000 + epoch);  // the same order on every rank
    const torch::Tensor shard = torch::randperm(train_x.size(0)).index({Slice(rank, None, world)});
    torch::manual_seed(seed + rank + 2000 + epoch);  // dropout differs by rank
    double recent = 0;
    for (int64_t s = 0; s < steps_per_epoch; ++s, ++step) {
      for (auto& group : adam.param_groups()) {
        static_cast<torch::optim::AdamOptions&>(group.options())
            .lr(OneCycle(step, total_steps, base_lr * world));
      }
      const torch::Tensor index = shard.slice(0, s * batch, (s + 1) * batch);
      optimizer.ZeroGrad();
      const torch::Tensor loss = torch::nn::functional::cross_entropy(
          model->forward(train_x.index_select(0, index)), train_y.index_select(0, index));
      loss.backward();
      optimizer.Step();
      const double value = loss.item<double>();
      recent = s == 0 ? value : 0.95 * recent + 0.05 * value;
      if (first_loss < 0) first_loss = Average(value, "first_loss");
      if (rank == 0) (void)run.Log("loss", value);
    }
    model->eval();
    torch::NoGradGuard no_grad;
    const torch::Tensor logits = model->forward(test_x);
    test_loss =
        Average(torch::nn::functional::cross_entropy(logits, test_y).item<double>(), "test_loss");
    test_accuracy = Average(logits.argmax(1).eq(test_y).to(torch::kFloat64).mean().item<double>(),
                            "test_accuracy");
    train_loss = Average(recent, "train_loss");
    if (rank == 0) {
      (void)run.Log("test_accuracy", test_accuracy, epoch);
      std::printf("epoch %d/%d train_loss %.4f test_loss %.4f test_accuracy %.4f\n", epoch, epochs,
                  train_loss, test_loss, test_accuracy);
      std::fflush(stdout);
    }
  }
  if (rank == 0) {
    std::filesystem::create_directories("outputs");
    std::ofstream("outputs/metrics.json")
        << "{\"test_accuracy\": " << test_accuracy << ", \"test_loss\": " << test_loss
        << ", \"first_train_loss\": " << first_loss << ", \"last_train_loss\": " << train_loss
        << ", \"ranks\": " << world << ", \"epochs\": " << epochs << "}\n";
    torch::save(model, "outputs/model.pt");
    std::printf("test_accuracy %.4f\n", test_accuracy);
  }
  hvd::Shutdown();
  return 0;
} catch (const std::exception& error) {
  std::fprintf(stderr, "train_cpp: %s\n", error.what());
  return 1;
}
