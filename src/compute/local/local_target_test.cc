#include "compute/local/local_target.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdlib>
#include <thread>

#include "common/files.h"
#include "common/strings.h"
#include "common/test_dir.h"
#include "launch/gpus.h"
#include "launch/slot_queue.h"

namespace kiln::compute {
namespace {
namespace fs = std::filesystem;

// A queue folder that does not exist: the machine's own capacity.
const fs::path kNoQueue = "/nonexistent/kiln-local-queue";

// The plan.json submit writes before the target starts the launcher; with `queue`, the run
// waits there for one core.
void WritePlanOf(const launch::RunDir& dir, const fs::path& queue = {}) {
  launch::RunPlan plan;
  plan.run_id = dir.root().filename().string();
  plan.command = {"/bin/true"};
  if (!queue.empty()) plan.slots = launch::SlotRequest{queue, launch::SlotKind::kCores, 1, "", 0};
  ASSERT_TRUE(launch::WritePlan(dir, plan).ok());
}

TEST(LocalTargetTest, AdmitsOneProcess) {
  LocalTarget target("/bin/false", RealSpawner(), kNoQueue);
  spec::JobSpec spec;
  EXPECT_TRUE(target.Admit(spec, spec::SpecSource("job.yaml", {}, {})).ok());
  spec.distributed_backend = spec::DistributedBackend::kGloo;
  EXPECT_TRUE(target.Admit(spec, spec::SpecSource("job.yaml", {}, {})).ok());
}

TEST(LocalTargetTest, RefusesWhatItCannotRun) {
  LocalTarget target("/bin/false", RealSpawner(), kNoQueue);
  spec::JobSpec spec;
  spec.node_count = 2;
  spec.distributed_backend = spec::DistributedBackend::kNccl;
  const Status status = target.Admit(spec, spec::SpecSource("job.yaml", {"node_count"}, {}));
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "--node-count: compute target 'local' is one machine; node_count must be 1, got 2 (use "
            "a cluster compute target for more nodes)\n"
            "job.yaml: distributed_backend: nccl runs collectives on GPUs but use_gpu is false; "
            "set use_gpu: true, or use gloo for ranks on CPUs");
}

TEST(LocalTargetTest, AdmitsSeveralRanks) {
  TestDir dir;
  ASSERT_TRUE(launch::SlotQueue(dir.path()).WriteSettings({4, std::nullopt}).ok());
  LocalTarget target("/bin/false", RealSpawner(), dir.path());
  spec::JobSpec spec;
  spec.process_count_per_node = 4;
  for (auto backend : {spec::DistributedBackend::kGloo, spec::DistributedBackend::kMpi}) {
    spec.distributed_backend = backend;
    const Status status = target.Admit(spec, spec::SpecSource("job.yaml", {}, {}));
    EXPECT_TRUE(status.ok()) << status.ToString();
  }
}

// The slots a job needs are counted at submit: one that could never fit is refused, naming
// the field to change and the command that gives the target more.
TEST(LocalTargetTest, RefusesAJobLargerThanItsSlots) {
  TestDir dir;
  ASSERT_TRUE(launch::SlotQueue(dir.path()).WriteSettings({3, std::nullopt}).ok());
  LocalTarget target("/bin/false", RealSpawner(), dir.path());
  spec::JobSpec spec;
  spec.process_count_per_node = 3;
  spec.distributed_backend = spec::DistributedBackend::kGloo;
  EXPECT_TRUE(target.Admit(spec, spec::SpecSource("job.yaml", {}, {})).ok());
  EXPECT_EQ(target.Slots(spec)->need, 3);
  EXPECT_EQ(target.Slots(spec)->kind, launch::SlotKind::kCores);

  spec.process_count_per_node = 4;
  EXPECT_EQ(target.Admit(spec, spec::SpecSource("job.yaml", {}, {})).message(),
            "job.yaml: process_count_per_node: the job needs 4 cores (4 ranks x 1 each), but "
            "compute target 'local' has 3 cores in all; lower process_count_per_node, or give the "
            "target more with `kiln compute set local --cores N`");
  spec.process_count_per_node = 2;
  spec.slots_per_rank = 2;
  EXPECT_EQ(target.Admit(spec, spec::SpecSource("job.yaml", {}, {})).message(),
            "job.yaml: slots_per_rank: the job needs 4 cores (2 ranks x 2 each), but compute "
            "target 'local' has 3 cores in all; lower slots_per_rank, or give the target more with "
            "`kiln compute set local --cores N`");
}

TEST(LocalTargetTest, MpiNeedsMpirun) {
  const char* saved = std::getenv("PATH");
  const std::string path = saved != nullptr ? saved : "";
  ::setenv("PATH", "/nonexistent", 1);
  LocalTarget target("/bin/false", RealSpawner(), kNoQueue);
  spec::JobSpec spec;
  spec.process_count_per_node = 2;
  spec.distributed_backend = spec::DistributedBackend::kMpi;
  const Status status = target.Admit(spec, spec::SpecSource("job.yaml", {}, {}));
  ::setenv("PATH", path.c_str(), 1);
  EXPECT_EQ(status.message(),
            "job.yaml: distributed_backend: mpi starts the ranks with Open MPI's mpirun, which is "
            "not on PATH; install openmpi-bin (scripts/setup.sh does) or use gloo");
}

TEST(LocalTargetTest, UseGpuNeedsAGpu) {
  if (launch::CountNvidiaDevices() > 0) GTEST_SKIP() << "this machine has a GPU";
  LocalTarget target("/bin/false", RealSpawner(), kNoQueue);
  spec::JobSpec spec;
  spec.use_gpu = true;
  EXPECT_EQ(target.Admit(spec, spec::SpecSource("job.yaml", {}, {})).message(),
            "job.yaml: use_gpu: is true but this machine has no GPU (no /dev/nvidia* device); set "
            "use_gpu: false");
}

// Submit hands the held lock to a detached launcher; Probe follows that process's life.
TEST(LocalTargetTest, SubmitHandsTheLockToADetachedLauncher) {
  TestDir dir;
  const fs::path program = dir.path() / "fake-kiln";
  ASSERT_TRUE(WriteFileAtomically(program,
                                  "#!/bin/sh\necho \"$@\" > args\n"
                                  "echo \"$KILN_RUN_STORE $KILN_RUN_TOKEN\" > access\n"
                                  "echo $$ > pid\n"
                                  "exec sleep 1000\n")
                  .ok());
  ::chmod(program.c_str(), 0755);
  const launch::RunDir run_dir(dir.path() / "runs/r1");
  ASSERT_TRUE(run_dir.Create().ok());
  WritePlanOf(run_dir, dir.path() / "queue");
  auto lock = launch::LauncherLock::Acquire(run_dir.lock());
  ASSERT_TRUE(lock.ok());
  const int lock_fd = lock->fd();

  LocalTarget target(program, RealSpawner(), dir.path() / "queue");
  ASSERT_TRUE(target.Submit(run_dir, std::move(lock).value(), {"sqlite:///k.db", "tok", ""}).ok());
  std::string pid_text;
  for (int i = 0; i < 300 && pid_text.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (auto text = ReadFileToString(run_dir.root() / "pid"); text.ok()) pid_text = *text;
  }
  ASSERT_FALSE(pid_text.empty());
  // The run's place in the queue is taken at submit and handed over like the lock.
  const std::string args = *ReadFileToString(run_dir.root() / "args");
  EXPECT_EQ(args.substr(0, args.find(" --queue-fd ")),
            "launch " + run_dir.root().string() + " --lock-fd " + std::to_string(lock_fd));
  EXPECT_NE(args.find(" --queue-fd "), std::string::npos) << args;
  const std::string place = *launch::SlotQueue(dir.path() / "queue").DescribeWait("r1");
  EXPECT_TRUE(place.starts_with("waiting for 1 core; ") && place.ends_with(" 1st in line"))
      << place;
  // The store access travels in the launcher's environment, not on its command line.
  EXPECT_EQ(*ReadFileToString(run_dir.root() / "access"), "sqlite:///k.db tok\n");

  store::Run run;
  run.run_dir = run_dir.root().string();
  run.host = LocalHostName();
  EXPECT_EQ(target.Check(run)->state, LauncherState::kAlive);
  run.host = "another-host";
  EXPECT_EQ(target.Check(run)->state, LauncherState::kUnknown);
  run.host = LocalHostName();

  ::kill(static_cast<pid_t>(*ParseInt64(TrimWhitespace(pid_text))), SIGKILL);
  LauncherState state = LauncherState::kAlive;
  for (int i = 0; i < 300 && state == LauncherState::kAlive; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    state = target.Check(run)->state;
  }
  EXPECT_EQ(state, LauncherState::kDead);
}

TEST(LocalTargetTest, MissingProgramIsReported) {
  TestDir dir;
  const launch::RunDir run_dir(dir.path() / "r");
  ASSERT_TRUE(run_dir.Create().ok());
  WritePlanOf(run_dir, dir.path() / "queue");
  auto lock = launch::LauncherLock::Acquire(run_dir.lock());
  ASSERT_TRUE(lock.ok());
  LocalTarget target(dir.path() / "no-kiln", RealSpawner(), dir.path() / "queue");
  const Status status = target.Submit(run_dir, std::move(lock).value(), {});
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_NE(status.message().find("cannot start the launcher"), std::string::npos);
  // The place it took in the queue is left again.
  EXPECT_TRUE(fs::is_empty(dir.path() / "queue/waiting"));
}

}  // namespace
}  // namespace kiln::compute
