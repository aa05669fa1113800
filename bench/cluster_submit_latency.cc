// Submit to first rank output on a real 2-node Slurm cluster (scripts/slurm-cluster.sh,
// started and stopped by this benchmark): `kiln submit` of a job of 2 nodes x 2 ranks
// through a kiln server, against a bare `sbatch` of the equivalent batch script (srun of the
// same Python script over the same layout), rounds alternating. The clock runs from the
// command's start until rank 0's first line is in its log (Kiln: logs/rank-0.log; bare:
// srun's output file). Prints the medians, the time Kiln adds and the ratio.
//
//   build/bench/cluster_submit_latency [rounds]     (as root: it makes network namespaces)

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <stdexcept>
#include <thread>

#include "bench/bench_cluster.h"
#include "bench/bench_util.h"
#include "common/files.h"

namespace kiln::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Milliseconds from `start` until `file` holds a whole line; 0 when `limit` passes first.
double WaitForFirstLine(const fs::path& file, Clock::time_point start, std::chrono::seconds limit) {
  while (Clock::now() - start < limit) {
    const Result<std::string> text = ReadFileToString(file);
    if (text.ok() && text->find('\n') != std::string::npos) {
      return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return 0;
}

int Main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 5;
  if (::geteuid() != 0) Fail("run as root (the test cluster uses network namespaces)");
  TestDir scratch;
  Cluster cluster(scratch.path() / "cluster");
  const std::vector<std::string> slurm_env = cluster.slurm_env();

  const KilnOnCluster server(scratch.path(), cluster, "bench");
  const std::vector<std::string>& client_env = server.client_env();
  const fs::path& runs = server.runs();

  const fs::path project = scratch.path() / "project";
  if (!CreateDirectories(project).ok() ||
      !WriteFileAtomically(project / "first.py", "print('first output', flush=True)\n").ok()) {
    Fail("cannot write the project");
  }
  const fs::path bare_script = scratch.path() / "bare.sbatch";
  const fs::path bare_out = scratch.path() / "bare.out";
  if (!WriteFileAtomically(
           bare_script,
           fmt::format("#!/bin/sh\n#SBATCH --partition=debug\n#SBATCH --nodes=2\n"
                       "#SBATCH --ntasks-per-node=2\n#SBATCH --no-requeue\n"
                       "#SBATCH --output=/dev/null\n"
                       "exec srun --kill-on-bad-exit=1 --mpi=none --output={} /usr/bin/python3 "
                       "{}/first.py\n",
                       bare_out.string(), project.string()))
           .ok()) {
    Fail("cannot write the batch script");
  }

  std::vector<double> kiln_ms;
  std::vector<double> bare_ms;
  for (int round = 0; round < rounds; ++round) {
    WaitForEmptyQueue(slurm_env);
    fs::remove(bare_out);
    const auto bare_start = Clock::now();
    Run({"sbatch", "--parsable", bare_script.string()}, slurm_env);
    const double bare = WaitForFirstLine(bare_out, bare_start, std::chrono::seconds(60));
    if (bare == 0) Fail("the bare job printed nothing");
    bare_ms.push_back(bare);

    WaitForEmptyQueue(slurm_env);
    const auto kiln_start = Clock::now();
    const std::string id =
        Run({KILN_BINARY, "submit", "--source-directory", project.string(), "--entry-script",
             "first.py", "--compute-target", "bench", "--node-count", "2",
             "--process-count-per-node", "2", "--distributed-backend", "gloo"},
            client_env)
            .out;
    const fs::path log = runs / id.substr(0, id.find('\n')) / "logs/rank-0.log";
    const double kiln = WaitForFirstLine(log, kiln_start, std::chrono::seconds(60));
    if (kiln == 0) Fail("the Kiln job printed nothing in " + log.string());
    kiln_ms.push_back(kiln);
    std::printf("round %d: bare sbatch %.0f ms, kiln submit %.0f ms\n", round + 1, bare, kiln);
  }
  WaitForEmptyQueue(slurm_env);
  const double kiln = Median(kiln_ms);
  const double bare = Median(bare_ms);
  std::printf(
      "submit to first rank output, 2 nodes x 2 ranks, median of %d: kiln %.0f ms, bare sbatch "
      "%.0f ms; kiln adds %.0f ms (target < 1000 ms), ratio %.2f\n",
      rounds, kiln, bare, kiln - bare, kiln / bare);
  return 0;
}

}  // namespace
}  // namespace kiln::bench

int main(int argc, char** argv) {
  try {
    return kiln::bench::Main(argc, argv);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "cluster_submit_latency: %s\n", error.what());
    return 1;
  }
}
