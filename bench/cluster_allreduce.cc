// Allreduce across nodes on a real 2-node Slurm cluster (scripts/slurm-cluster.sh, started and
// stopped by this benchmark), 2 nodes x 2 ranks, float32 from 1 KB to 256 MB, each figure the
// slowest rank's median: kiln.hvd hierarchical (each node's shared memory, one rank per node
// across) and flat (HOROVOD_HIERARCHICAL_ALLREDUCE=0), against Open MPI's MPI_Allreduce and
// torch.distributed gloo measured in the same jobs (bench/python/hvd_allreduce.py's worker).
// The test nodes share this machine's 2 cores: compare the columns, not with real clusters.
//
//   build/bench/cluster_allreduce     (as root: it makes network namespaces)

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "bench/bench_cluster.h"
#include "bench/bench_util.h"
#include "common/files.h"

namespace kiln::bench {
namespace {

namespace fs = std::filesystem;

// One job: the worker's figures (its JSON: peer, plane, rows of bytes / kiln / peer).
nlohmann::json Measure(const KilnOnCluster& kiln, const fs::path& project,
                       const std::string& backend, const std::string& mode, bool hierarchical) {
  const std::string out =
      Run({KILN_BINARY, "submit", "--source-directory", project.string(), "--entry-script",
           "cluster_worker.py", "--compute-target", "bench", "--node-count", "2",
           "--process-count-per-node", "2", "--distributed-backend", backend, "--wait", "--", mode,
           hierarchical ? "1" : "0"},
          kiln.client_env(), std::chrono::seconds(1800))
          .out;
  const std::string id = out.substr(0, out.find('\n'));
  const Result<std::string> figures =
      ReadFileToString(kiln.runs() / id / "outputs" / "allreduce.json");
  if (!figures.ok())
    Fail(fmt::format("run {} left no figures: {}", id, figures.status().ToString()));
  return nlohmann::json::parse(*figures);
}

std::string Human(int64_t bytes) {
  return bytes >= (1 << 20) ? fmt::format("{} MB", bytes >> 20) : fmt::format("{} KB", bytes >> 10);
}

int Main() {
  if (::geteuid() != 0) Fail("run as root (the test cluster uses network namespaces)");
  TestDir scratch;
  Cluster cluster(scratch.path() / "cluster");
  const KilnOnCluster kiln(scratch.path(), cluster, "bench");
  const fs::path project = scratch.path() / "project";
  const Result<std::string> worker =
      ReadFileToString(fs::path(KILN_SOURCE_DIR) / "bench/python/hvd_allreduce.py");
  if (!worker.ok() || !CreateDirectories(project).ok() ||
      !WriteFileAtomically(project / "hvd_allreduce.py", *worker).ok() ||
      !WriteFileAtomically(project / "cluster_worker.py",
                           "import os, sys\n"
                           "mode, hierarchical = sys.argv[1], sys.argv[2]\n"
                           "os.environ['HOROVOD_HIERARCHICAL_ALLREDUCE'] = hierarchical\n"
                           "# torch.distributed's gloo next to Kiln's rendezvous port\n"
                           "os.environ['GLOO_PORT'] = str(int(os.environ['MASTER_PORT']) + 1)\n"
                           "os.makedirs('outputs', exist_ok=True)\n"
                           "import hvd_allreduce\n"
                           "hvd_allreduce.worker(mode, 'outputs/allreduce.json')\n")
           .ok()) {
    Fail("cannot write the project");
  }
  const nlohmann::json mpi_hier = Measure(kiln, project, "mpi", "mpi", true);
  const nlohmann::json mpi_flat = Measure(kiln, project, "mpi", "mpi", false);
  const nlohmann::json tcp_hier = Measure(kiln, project, "gloo", "tcp", true);
  const nlohmann::json tcp_flat = Measure(kiln, project, "gloo", "tcp", false);
  std::printf(
      "2 nodes x 2 ranks: latency in us (the slowest rank's median); Kiln's planes %s, %s, %s, "
      "%s\n",
      mpi_hier["plane"].get<std::string>().c_str(), mpi_flat["plane"].get<std::string>().c_str(),
      tcp_hier["plane"].get<std::string>().c_str(), tcp_flat["plane"].get<std::string>().c_str());
  std::printf("%7s | %9s %9s %9s %9s | %9s %9s | %s\n", "size", "mpi hier", "mpi flat", "tcp hier",
              "tcp flat", "MPI_Allr", "gloo", "ratio");
  for (size_t i = 0; i < mpi_hier["rows"].size(); ++i) {
    const auto at = [&](const nlohmann::json& run, const char* key) {
      return run["rows"][i][key].get<double>() * 1e6;
    };
    const double kiln_best = std::min(
        {at(mpi_hier, "kiln"), at(mpi_flat, "kiln"), at(tcp_hier, "kiln"), at(tcp_flat, "kiln")});
    const double peer_best = std::min(
        {at(mpi_hier, "peer"), at(mpi_flat, "peer"), at(tcp_hier, "peer"), at(tcp_flat, "peer")});
    std::printf("%7s | %9.1f %9.1f %9.1f %9.1f | %9.1f %9.1f | %5.2f\n",
                Human(mpi_hier["rows"][i]["bytes"].get<int64_t>()).c_str(), at(mpi_hier, "kiln"),
                at(mpi_flat, "kiln"), at(tcp_hier, "kiln"), at(tcp_flat, "kiln"),
                std::min(at(mpi_hier, "peer"), at(mpi_flat, "peer")),
                std::min(at(tcp_hier, "peer"), at(tcp_flat, "peer")), peer_best / kiln_best);
  }
  std::printf(
      "ratio: the best peer's time over Kiln's best (above 1.0: Kiln is faster). Target: >= 1.0 "
      "from 64 KB up.\n");
  return 0;
}

}  // namespace
}  // namespace kiln::bench

int main() {
  try {
    return kiln::bench::Main();
  } catch (const std::exception& error) {
    std::fprintf(stderr, "cluster_allreduce: %s\n", error.what());
    return 1;
  }
}
