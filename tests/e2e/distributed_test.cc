// Several ranks on one machine, under mpirun and started by the launcher itself: the
// environment every rank sees, torch.distributed across them, per-rank logs, and how the
// run ends when one rank fails, hangs or is canceled. Every test ends with no process of
// the run left.

#include <fstream>
#include <thread>

#include "common/files.h"
#include "e2e/kiln_fixture.h"

namespace kiln::e2e {
namespace {

// Writes what the rank sees to outputs/rank-N.json after an allreduce of rank + 1 over
// every rank, so a wrong rendezvous or a duplicate rank shows.
constexpr const char* kAllreduce = R"(import json, os
import torch
import torch.distributed as dist
dist.init_process_group("gloo", init_method="env://")
total = torch.tensor([float(dist.get_rank() + 1)])
dist.all_reduce(total)
names = ["RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "NODE_RANK", "MASTER_ADDR",
         "MASTER_PORT", "KILN_RUN_ID", "KILN_RANK", "OMPI_COMM_WORLD_RANK"]
seen = {name: os.environ.get(name) for name in names}
seen["sum"] = total.item()
seen["torch_rank"] = dist.get_rank()
with open(f"outputs/rank-{dist.get_rank()}.json", "w") as out:
    json.dump(seen, out)
print(f"rank {dist.get_rank()} done", flush=True)
dist.destroy_process_group()
)";

// Rank 3 fails the way argv[1] says; the others wait, rank 0 ignoring SIGTERM so that
// stopping it needs SIGKILL.
constexpr const char* kOneRankFails = R"(import os, signal, sys, time
rank = int(os.environ["RANK"])
how = sys.argv[1]
if rank == 3 and how == "start":
    import no_such_module
print(f"rank {rank} running", flush=True)
if rank == 0:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if rank == 3:
    time.sleep(1)
    print("rank 3 gives up", flush=True)
    if how == "exit":
        sys.exit(2)
    os.kill(os.getpid(), signal.SIGSEGV)
time.sleep(1000)
)";

constexpr const char* kSleepers = R"(import os, time
print(f"rank {os.environ['RANK']} sleeping", flush=True)
time.sleep(1000)
)";

class DistributedTest : public KilnTest,
                        public ::testing::WithParamInterface<std::tuple<std::string, int>> {
 protected:
  // Four ranks on a machine of fewer cores: the local target is given four, as a user
  // oversubscribing on purpose would (docs/compute-targets.md).
  void SetUp() override {
    const CapturedRun set = Kiln({"compute", "set", "local", "--cores", "4"});
    ASSERT_EQ(set.exit.code, 0) << set.err;
  }

  std::string backend() const { return std::get<0>(GetParam()); }
  int ranks() const { return std::get<1>(GetParam()); }

  std::string Submit(const std::filesystem::path& project, const std::string& script, int ranks,
                     std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "--source-directory",       project.string(),      "--entry-script",        script,
        "--process-count-per-node", std::to_string(ranks), "--distributed-backend", backend()};
    args.insert(args.end(), extra.begin(), extra.end());
    return SubmitOk(args);
  }

  // Submits with --wait and returns the run id, whatever the run's outcome.
  std::string SubmitAndWait(const std::filesystem::path& project, const std::string& script,
                            int ranks, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"submit",
                                     "--source-directory",
                                     project.string(),
                                     "--entry-script",
                                     script,
                                     "--process-count-per-node",
                                     std::to_string(ranks),
                                     "--distributed-backend",
                                     backend(),
                                     "--wait"};
    args.insert(args.end(), extra.begin(), extra.end());
    const CapturedRun run = Kiln(args);
    EXPECT_NE(run.exit.code, 2) << run.err;
    return FirstLine(run.out);
  }

  // Waits until every rank has written its first line.
  bool WaitForRankLines(const std::string& id, int ranks) {
    for (int i = 0; i < 1500; ++i) {
      int started = 0;
      for (int rank = 0; rank < ranks; ++rank) {
        const Result<std::string> log =
            ReadFileToString(RunDir(id) / "logs" / ("rank-" + std::to_string(rank) + ".log"));
        if (log.ok() && !log->empty()) ++started;
      }
      if (started == ranks) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
};

TEST_P(DistributedTest, EveryRankSeesItsPlaceAndTheOthers) {
  const auto project = Project("proj", {{"train.py", kAllreduce}});
  const std::string id = Submit(project, "train.py", ranks(), {"--wait"});
  const nlohmann::json shown = KilnJson({"show", id, "--json"});
  ASSERT_EQ(shown["status"], "Completed") << shown.dump(2);
  const std::string layout = ranks() == 1 ? "1"
                                          : std::to_string(ranks()) + " (1 node x " +
                                                std::to_string(ranks()) + ", " + backend() + ")";
  EXPECT_NE(Kiln({"show", id}).out.find("\nRanks      " + layout + "\n"), std::string::npos);

  std::string master_port;
  for (int rank = 0; rank < ranks(); ++rank) {
    const Result<std::string> text =
        ReadFileToString(RunDir(id) / "outputs" / ("rank-" + std::to_string(rank) + ".json"));
    ASSERT_TRUE(text.ok()) << text.status().ToString();
    const nlohmann::json seen = nlohmann::json::parse(*text);
    EXPECT_EQ(seen["RANK"], std::to_string(rank));
    EXPECT_EQ(seen["torch_rank"], rank);
    EXPECT_EQ(seen["KILN_RANK"], std::to_string(rank));
    EXPECT_EQ(seen["LOCAL_RANK"], std::to_string(rank));
    EXPECT_EQ(seen["WORLD_SIZE"], std::to_string(ranks()));
    EXPECT_EQ(seen["LOCAL_WORLD_SIZE"], std::to_string(ranks()));
    EXPECT_EQ(seen["NODE_RANK"], "0");
    EXPECT_EQ(seen["MASTER_ADDR"], "127.0.0.1");
    EXPECT_EQ(seen["KILN_RUN_ID"], id);
    EXPECT_EQ(seen["sum"], ranks() * (ranks() + 1) / 2);
    if (backend() == "mpi") {
      EXPECT_EQ(seen["OMPI_COMM_WORLD_RANK"], std::to_string(rank));
    } else {
      EXPECT_TRUE(seen["OMPI_COMM_WORLD_RANK"].is_null());
    }
    if (rank == 0) master_port = seen["MASTER_PORT"];
    EXPECT_EQ(seen["MASTER_PORT"], master_port);
  }

  // One log per rank; `kiln logs` shows them all, prefixed when there are several.
  const CapturedRun logs = Kiln({"logs", id});
  EXPECT_EQ(logs.exit.code, 0) << logs.err;
  for (int rank = 0; rank < ranks(); ++rank) {
    const std::string line = "rank " + std::to_string(rank) + " done";
    const std::string shown_line =
        ranks() > 1 ? "[rank " + std::to_string(rank) + "] " + line : line;
    EXPECT_NE(logs.out.find(shown_line + "\n"), std::string::npos) << logs.out;
    const CapturedRun one = Kiln({"logs", id, "--rank", std::to_string(rank)});
    EXPECT_NE(one.out.find(line), std::string::npos);
    for (int other = 0; other < ranks(); ++other) {
      if (other == rank) continue;
      EXPECT_EQ(one.out.find("rank " + std::to_string(other) + " done"), std::string::npos);
    }
  }
  EXPECT_EQ(RunProcessCount(id), 0u);
}

TEST_P(DistributedTest, CancelEndsEveryRank) {
  const auto project = Project("proj", {{"train.py", kSleepers}});
  const std::string id = Submit(project, "train.py", ranks());
  ASSERT_TRUE(WaitForRankLines(id, ranks()));
  const CapturedRun cancel = Kiln({"cancel", id});
  EXPECT_EQ(cancel.exit.code, 0) << cancel.err;
  EXPECT_EQ(KilnJson({"show", id, "--json"})["status"], "Canceled");
  EXPECT_EQ(RunProcessCount(id), 0u);
}

TEST_P(DistributedTest, DurationLimitEndsAHang) {
  const auto project = Project("proj", {{"train.py", kSleepers}});
  const std::string id =
      SubmitAndWait(project, "train.py", ranks(), {"--max-run-duration-seconds", "3"});
  const nlohmann::json shown = KilnJson({"show", id, "--json"});
  EXPECT_EQ(shown["status"], "Failed");
  EXPECT_EQ(shown["failure_reason"],
            "the run exceeded max_run_duration_seconds (3 s) and was stopped");
  EXPECT_EQ(RunProcessCount(id), 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, DistributedTest,
                         ::testing::Combine(::testing::Values("mpi", "gloo"),
                                            ::testing::Values(1, 2, 4)),
                         [](const auto& param_info) {
                           return std::get<0>(param_info.param) + "_" +
                                  std::to_string(std::get<1>(param_info.param)) + "_ranks";
                         });

class RankFailureTest : public DistributedTest {};

// Rank 3 of 4 fails at start, mid-run or by a signal: the run is Failed with that cause
// and rank 3's last lines, and every other rank is stopped, even one ignoring SIGTERM.
TEST_P(RankFailureTest, FirstFailingRankEndsTheRun) {
  const auto project = Project("proj", {{"train.py", kOneRankFails}});
  struct Case {
    std::string how;
    std::string reason;
    std::string last_line;
  };
  const std::vector<Case> cases = {
      {"start", "rank 3 exited with code 1",
       "ModuleNotFoundError: No module named 'no_such_module'"},
      {"exit", "rank 3 exited with code 2", "rank 3 gives up"},
      {"signal", "rank 3 was killed by SIGSEGV", "rank 3 gives up"},
  };
  for (const Case& each : cases) {
    SCOPED_TRACE(each.how);
    const std::string id = SubmitAndWait(project, "train.py", 4, {"--", each.how});
    const nlohmann::json shown = KilnJson({"show", id, "--json"});
    EXPECT_EQ(shown["status"], "Failed");
    EXPECT_EQ(shown["failure_reason"], each.reason);
    ASSERT_FALSE(shown["failure_log_tail"].empty());
    EXPECT_EQ(shown["failure_log_tail"].back(), each.last_line);
    EXPECT_EQ(RunProcessCount(id), 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, RankFailureTest,
                         ::testing::Combine(::testing::Values("mpi", "gloo"), ::testing::Values(4)),
                         [](const auto& param_info) { return std::get<0>(param_info.param); });

TEST_F(KilnTest, SeveralRanksNeedABackendAndGpusNeedAGpu) {
  const auto project = Project("proj", {{"train.py", "print('never')\n"}});
  const CapturedRun none = Kiln({"submit", "--source-directory", project.string(), "--entry-script",
                                 "train.py", "--process-count-per-node", "2"});
  EXPECT_EQ(none.exit.code, 2);
  EXPECT_NE(none.err.find("process_count_per_node is 2 but distributed_backend is none; set "
                          "mpi, gloo or nccl"),
            std::string::npos)
      << none.err;
  if (!std::filesystem::exists("/dev/nvidia0")) {
    const CapturedRun gpu =
        Kiln({"submit", "--source-directory", project.string(), "--entry-script", "train.py",
              "--process-count-per-node", "2", "--use-gpu"});
    EXPECT_EQ(gpu.exit.code, 2);
    EXPECT_NE(gpu.err.find("--use-gpu: is true but this machine has no GPU"), std::string::npos)
        << gpu.err;
  }
  EXPECT_EQ(KilnJson({"runs", "--json"}).size(), 0u);
}

}  // namespace
}  // namespace kiln::e2e
