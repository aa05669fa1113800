#pragma once

// The benchmarks on a real 2-node Slurm cluster (scripts/slurm-cluster.sh, in network
// namespaces: root): the cluster for as long as a benchmark runs, and a kiln server with the
// cluster as a compute target. Errors are thrown, so that both are taken down on the way out.

#include <fmt/format.h>
#include <signal.h>

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "common/files.h"
#include "common/subprocess.h"

namespace kiln::bench {

inline constexpr const char* kNet = "10.79.0";

inline std::vector<std::string> ClusterEnv() {
  return {"KILN_CLUSTER_NAME=kilnb", std::string("KILN_CLUSTER_NET=") + kNet,
          "KILN_CLUSTER_CTLD_PORT=17017", "KILN_CLUSTER_SLURMD_PORT=17018"};
}

[[noreturn]] inline void Fail(const std::string& what) { throw std::runtime_error(what); }

// `env` with the "NAME=value" entries of `extra` replacing those of the same names.
inline std::vector<std::string> WithEnv(std::vector<std::string> env,
                                        const std::vector<std::string>& extra) {
  for (const std::string& entry : extra) {
    const std::string name = entry.substr(0, entry.find('=') + 1);
    std::erase_if(env, [&](const std::string& old) { return old.starts_with(name); });
    env.push_back(entry);
  }
  return env;
}

inline CapturedRun Run(std::vector<std::string> argv, std::vector<std::string> env,
                       std::chrono::seconds limit = std::chrono::seconds(120)) {
  SpawnOptions options;
  options.argv = std::move(argv);
  options.env = std::move(env);
  Result<CapturedRun> run = RunAndCapture(options, limit);
  if (!run.ok()) Fail(run.status().ToString());
  if (!run->exit.success())
    Fail(fmt::format("{} {}: {}{}", options.argv[0], run->exit.Describe(), run->out, run->err));
  return *run;
}

// The cluster, for as long as the benchmark runs.
class Cluster {
 public:
  explicit Cluster(std::filesystem::path dir) : dir_(std::move(dir)) {
    Run({script_, "start", dir_.string()}, WithEnv(CurrentEnvironment(), ClusterEnv()));
  }
  ~Cluster() {
    SpawnOptions stop;
    stop.argv = {script_, "stop", dir_.string()};
    stop.env = WithEnv(CurrentEnvironment(), ClusterEnv());
    RunAndCapture(stop, std::chrono::seconds(120)).status().IgnoreError();
  }
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  std::string slurm_conf() const { return (dir_ / "slurm.conf").string(); }
  std::vector<std::string> slurm_env() const {
    return WithEnv(CurrentEnvironment(), {"SLURM_CONF=" + slurm_conf()});
  }

 private:
  std::filesystem::path dir_;
  std::string script_ = std::string(KILN_SOURCE_DIR) + "/scripts/slurm-cluster.sh";
};

// A kiln server under `scratch` with `cluster` as its compute target `target`; runs land in
// runs(). Commands run as a client of it with client_env().
class KilnOnCluster {
 public:
  KilnOnCluster(const std::filesystem::path& scratch, const Cluster& cluster,
                const std::string& target)
      : runs_(scratch / "runs") {
    const std::filesystem::path server_home = scratch / "server";
    // An admin: adding a compute target needs the role.
    const std::string token =
        Run({KILN_BINARY, "server", "token", "create", "--name", "bench", "--role", "admin",
             "--store", "sqlite://" + (server_home / "kiln.db").string()},
            KilnEnvironment(server_home))
            .out;
    auto pipe = MakePipe();
    if (!pipe.ok()) Fail(pipe.status().ToString());
    SpawnOptions serve;
    serve.argv = {KILN_BINARY,          "server",   "--home",
                  server_home.string(), "--listen", fmt::format("{}.1:0", kNet)};
    serve.env = KilnEnvironment(server_home);
    serve.stdout_fd = pipe->second.get();
    serve.kill_with_parent = true;
    Result<Subprocess> server = RealSpawner().Spawn(serve);
    if (!server.ok()) Fail(server.status().ToString());
    server_.emplace(std::move(*server));
    pipe->second.reset();
    const Result<std::string> line = ReadFirstLine(pipe->first.get(), std::chrono::seconds(30));
    if (!line.ok()) Fail("the server did not start: " + line.status().ToString());
    const std::string url = line->substr(line->rfind(' ') + 1);
    client_env_ =
        KilnEnvironment(scratch / "client",
                        {"KILN_SERVER=" + url, "KILN_TOKEN=" + token.substr(0, token.find('\n'))});
    Run({KILN_BINARY, "compute", "add", target, "--type", "slurm", "--partition", "debug",
         "--max-nodes", "2", "--runs-root", runs_.string(), "--slurm-conf", cluster.slurm_conf(),
         "--network", fmt::format("{}.0/24", kNet)},
        client_env_);
  }
  ~KilnOnCluster() {
    if (!server_) return;
    ::kill(server_->pid(), SIGTERM);
    server_->Wait().status().IgnoreError();
  }
  KilnOnCluster(const KilnOnCluster&) = delete;
  KilnOnCluster& operator=(const KilnOnCluster&) = delete;

  const std::vector<std::string>& client_env() const { return client_env_; }
  const std::filesystem::path& runs() const { return runs_; }

 private:
  std::filesystem::path runs_;
  std::optional<Subprocess> server_;
  std::vector<std::string> client_env_;
};

// Waits until Slurm's queue is empty, so each round starts on idle nodes.
inline void WaitForEmptyQueue(const std::vector<std::string>& slurm_env) {
  for (int i = 0; i < 600; ++i) {
    if (Run({"squeue", "-h"}, slurm_env).out.empty()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  Fail("Slurm's queue did not empty");
}

}  // namespace kiln::bench
