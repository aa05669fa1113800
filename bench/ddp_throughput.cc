// The launcher's cost in the steady state of a distributed job: the Fashion-MNIST DDP example
// (examples/fashion-mnist/train_ddp.py) on 2 gloo ranks, submitted through Kiln, against the
// same script started by hand as 2 processes with the same rank environment. The figure is
// the training throughput of the last epoch (samples/s, from the script's metrics.json), so
// start-up is left out. Rounds alternate which goes first; medians are compared.
// Target (issue 4): kiln / by hand >= 0.98.
//
//   build/bench/ddp_throughput [rounds [train_images [epochs]]]

#include <fmt/format.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "bench/bench_util.h"
#include "common/files.h"
#include "common/ports.h"

using namespace kiln;
using namespace kiln::bench;
namespace fs = std::filesystem;

namespace {

constexpr int kRanks = 2;
constexpr const char* kData = "/usr/share/datasets/fashion-mnist";

double SamplesPerSecond(const fs::path& metrics_json) {
  const Result<std::string> text = ReadFileToString(metrics_json);
  if (!text.ok()) {
    std::fprintf(stderr, "%s\n", text.status().ToString().c_str());
    std::exit(1);
  }
  return nlohmann::json::parse(*text).at("samples_per_second").get<double>();
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 3;
  const std::string train_images = argc > 2 ? argv[2] : "20000";
  const std::string epochs = argc > 3 ? argv[3] : "2";
  const fs::path example = fs::path(KILN_SOURCE_DIR) / "examples/fashion-mnist";
  const fs::path python_path = fs::path(KILN_BINARY).parent_path() / "python";
  TestDir scratch;
  const std::vector<std::string> env = KilnEnvironment(scratch.path() / "home");
  const std::vector<std::string> script_args = {"--data_dir",   kData,           "--epochs",
                                                epochs,         "--train_limit", train_images,
                                                "--test_limit", "1000"};

  SpawnOptions store;
  store.argv = {KILN_BINARY, "datastore", "register", "fashion_mnist", "--path", kData};
  store.env = env;
  TimeCommand(store);

  const auto through_kiln = [&] {
    SpawnOptions submit;
    submit.argv = {KILN_BINARY, "submit", (example / "job-ddp.yaml").string(), "--wait", "--"};
    submit.argv.insert(submit.argv.end(), script_args.begin(), script_args.end());
    submit.env = env;
    const Result<CapturedRun> run = RunAndCapture(submit, std::chrono::seconds(1800));
    if (!run.ok() || !run->exit.success()) {
      std::fprintf(stderr, "kiln submit failed: %s\n", run.ok() ? run->err.c_str() : "");
      std::exit(1);
    }
    const std::string id = run->out.substr(0, run->out.find('\n'));
    return SamplesPerSecond(scratch.path() / "home/runs" / id / "outputs/metrics.json");
  };

  int round_number = 0;
  const auto by_hand = [&] {
    const fs::path cwd = scratch.path() / fmt::format("by-hand-{}", round_number++);
    if (!CreateDirectories(cwd).ok()) std::exit(1);
    for (const char* file : {"train.py", "train_ddp.py"}) {
      fs::copy_file(example / file, cwd / file);
    }
    const Result<int> port = PickFreePort();
    if (!port.ok()) std::exit(1);
    std::vector<Subprocess> ranks;
    for (int rank = 0; rank < kRanks; ++rank) {
      SpawnOptions spawn;
      spawn.argv = {"/usr/bin/python3", "train_ddp.py"};
      spawn.argv.insert(spawn.argv.end(), script_args.begin(), script_args.end());
      spawn.env = CurrentEnvironment();
      for (const std::string& variable :
           {fmt::format("RANK={}", rank), fmt::format("LOCAL_RANK={}", rank),
            fmt::format("WORLD_SIZE={}", kRanks), fmt::format("LOCAL_WORLD_SIZE={}", kRanks),
            std::string("NODE_RANK=0"), std::string("MASTER_ADDR=127.0.0.1"),
            fmt::format("MASTER_PORT={}", *port), std::string("PYTHONUNBUFFERED=1"),
            "PYTHONPATH=" + python_path.string()}) {
        spawn.env->push_back(variable);
      }
      spawn.cwd = cwd;
      Result<Subprocess> started = RealSpawner().Spawn(spawn);
      if (!started.ok()) std::exit(1);
      ranks.push_back(std::move(*started));
    }
    for (Subprocess& rank : ranks) {
      const Result<ExitStatus> exit = rank.Wait();
      if (!exit.ok() || !exit->success()) {
        std::fprintf(stderr, "a rank started by hand failed\n");
        std::exit(1);
      }
    }
    return SamplesPerSecond(cwd / "outputs/metrics.json");
  };

  std::vector<double> kiln, hand;
  for (int round = 0; round < rounds; ++round) {
    if (round % 2 == 0) {
      kiln.push_back(through_kiln());
      hand.push_back(by_hand());
    } else {
      hand.push_back(by_hand());
      kiln.push_back(through_kiln());
    }
    std::printf("  round %d: kiln %.0f samples/s, by hand %.0f samples/s\n", round + 1, kiln.back(),
                hand.back());
    std::fflush(stdout);
  }
  const double peer = Median(hand);
  const double ours = Median(kiln);
  std::printf("ddp_throughput: %d gloo ranks, %s images, last of %s epochs, median of %d\n", kRanks,
              train_images.c_str(), epochs.c_str(), rounds);
  std::printf("  started by hand (peer)    %8.0f samples/s\n", peer);
  std::printf("  submitted through kiln    %8.0f samples/s\n", ours);
  std::printf("  ratio kiln / by hand      %8.3f     (target >= 0.98)\n", ours / peer);
  return 0;
}
