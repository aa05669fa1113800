#include "launch/rank_shim.h"

#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <map>

#include "common/unique_fd.h"
#include "launch/gpus.h"
#include "launch/node_address.h"
#include "launch/output_capture.h"
#include "launch/rank_env.h"
#include "launch/rank_exit.h"
#include "launch/run_plan.h"
#include "launch/store_access.h"
#include "store/open_store.h"

namespace kiln::launch {
namespace {

constexpr int kForwardedSignals[] = {SIGTERM, SIGINT, SIGHUP};
constexpr std::chrono::milliseconds kTick{200};
constexpr std::chrono::milliseconds kDrainTimeout{2000};
// How often the shim of a cluster rank asks the store whether its run has ended, and how
// long the rank then has between SIGTERM and SIGKILL.
constexpr std::chrono::seconds kRunWatchInterval{3};
constexpr std::chrono::seconds kOrphanGrace{5};

// The rank of a cluster run must not outlive its run: on another node, nothing else may
// stop it when its launcher's node or its slurmd is gone (a dead slurmd leaves its steps
// running). The shim asks the store now and then; once the run has ended, it stops the rank.
class RunWatch {
 public:
  // `env`: the shim's environment, which holds the store access (store_access.h).
  RunWatch(const RunPlan& plan, const std::vector<std::string>& env) : run_id_(plan.run_id) {
    if (!plan.cluster) return;
    const StoreAccess access = StoreAccessOf(plan, env);
    Result<std::unique_ptr<store::Store>> opened =
        store::OpenStore(access.url, {access.token, access.ca_file});
    if (opened.ok()) store_ = std::move(opened).value();
  }

  // Whether the run has ended, asked at most every kRunWatchInterval; false when unknown.
  bool RunEnded() {
    if (!store_) return false;
    const auto now = std::chrono::steady_clock::now();
    if (now < next_check_) return false;
    next_check_ = now + kRunWatchInterval;
    const Result<store::Run> run = store_->GetRun(run_id_);
    // The server revokes a run's token in the transaction that ends the run, so a refused
    // token says the run has ended as surely as its status does.
    if (!run.ok()) return run.status().code() == StatusCode::kUnauthenticated;
    return store::IsTerminal(run->status);
  }

 private:
  std::string run_id_;
  std::unique_ptr<store::Store> store_;
  std::chrono::steady_clock::time_point next_check_ =
      std::chrono::steady_clock::now() + kRunWatchInterval;
};

// The shim's environment with the rank's own variables set.
// On a cluster, the interface of this node that is on the run's network, for the
// collective libraries (which otherwise bind what the host name resolves to, often
// loopback). The job's own setting wins.
Status AddNetworkInterface(const RunPlan& plan, std::map<std::string, std::string>& env) {
  if (!plan.cluster || plan.cluster->network.empty()) return Status::Ok();
  KILN_ASSIGN_OR_RETURN(const NodeAddress address, AddressOnNetwork(plan.cluster->network));
  for (const char* name : {"GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME"}) {
    env.try_emplace(name, address.interface);
  }
  return Status::Ok();
}

Result<std::vector<std::string>> RankEnvironment(const std::vector<std::string>& base,
                                                 const RunPlan& plan,
                                                 const RankIdentity& identity) {
  std::map<std::string, std::string> env;
  for (const std::string& entry : base) {
    const std::size_t equals = entry.find('=');
    if (equals == std::string::npos) continue;
    std::string name = entry.substr(0, equals);
    // The store access is the shim's, never the rank's.
    if (!IsStoreAccessVariable(name)) env[std::move(name)] = entry.substr(equals + 1);
  }
  KILN_RETURN_IF_ERROR(AddNetworkInterface(plan, env));
  for (auto& [name, value] : RankVariables(identity)) env[name] = std::move(value);
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [name, value] : env) out.push_back(name + "=" + value);
  return out;
}

}  // namespace

Result<ExitStatus> RunRankShim(const RankShimOptions& options) {
  if (options.command.empty()) return InvalidArgumentError("no command to run for the rank");
  const RunDir dir(options.run_dir);
  KILN_ASSIGN_OR_RETURN(const RunPlan plan, ReadPlan(dir));
  const std::vector<std::string> base = CurrentEnvironment();
  KILN_ASSIGN_OR_RETURN(RankIdentity identity,
                        RankIdentityOfProcess(base, plan.ranks.process_count_per_node));
  if (identity.world_size != plan.ranks.world_size()) {
    return FailedPreconditionError(fmt::format(
        "{} ranks were started but run {} has {}; the shim only runs ranks of its own run",
        identity.world_size, plan.run_id, plan.ranks.world_size()));
  }
  if (plan.use_gpu) {
    identity.gpu = GpuForLocalRank(
        VisibleGpus(FindVariable(base, "CUDA_VISIBLE_DEVICES"), CountNvidiaDevices()),
        identity.local_rank);
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGCHLD);
  for (int signal : kForwardedSignals) sigaddset(&signals, signal);
  if (::sigprocmask(SIG_BLOCK, &signals, nullptr) != 0) return ErrnoError("sigprocmask", errno);
  UniqueFd signal_fd(::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signal_fd) return ErrnoError("signalfd", errno);

  KILN_ASSIGN_OR_RETURN(OutputCapture capture,
                        OutputCapture::Open(dir.rank_log(identity.rank), SystemClock()));
  SpawnOptions spawn;
  spawn.argv = options.command;
  KILN_ASSIGN_OR_RETURN(spawn.env, RankEnvironment(base, plan, identity));
  spawn.cwd = dir.src();
  spawn.stdout_fd = capture.child_stdout();
  spawn.stderr_fd = capture.child_stderr();
  spawn.kill_with_parent = true;
  Result<Subprocess> child = RealSpawner().Spawn(spawn);
  if (!child.ok()) {
    return child.status().WithPrefix(fmt::format("rank {} could not start", identity.rank));
  }
  capture.ChildStarted();
  const pid_t pid = child->pid();

  std::optional<ExitStatus> exit;
  // The first failure to write the rank's log; the rank runs on, and the shim reports it
  // (after recording how the rank ended) by failing, so mpirun and the launcher see it.
  Status capture_status;
  const auto note = [&capture_status](Status status) {
    if (!status.ok() && capture_status.ok()) capture_status = std::move(status);
  };
  std::int64_t drain_deadline = 0;
  RunWatch watch(plan, base);
  std::optional<std::chrono::steady_clock::time_point> kill_at;
  while (!exit || capture.open()) {
    if (!exit && !kill_at && watch.RunEnded()) {
      ::kill(pid, SIGTERM);
      kill_at = std::chrono::steady_clock::now() + kOrphanGrace;
    }
    if (!exit && kill_at && std::chrono::steady_clock::now() >= *kill_at) ::kill(pid, SIGKILL);
    std::vector<pollfd> fds = {{signal_fd.get(), POLLIN, 0}};
    capture.AddPollFds(fds);
    ::poll(fds.data(), fds.size(), static_cast<int>(kTick.count()));
    signalfd_siginfo info{};
    while (::read(signal_fd.get(), &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
      const int signal = static_cast<int>(info.ssi_signo);
      if (signal != SIGCHLD && !exit) ::kill(pid, signal);
    }
    note(capture.DrainAvailable());
    note(capture.log().FlushStale());
    if (!exit) {
      int wait_status = 0;
      if (::waitpid(pid, &wait_status, WNOHANG) == pid) {
        exit = ExitStatus::FromWaitStatus(wait_status);
        drain_deadline =
            SystemClock().MonotonicMicros() + std::chrono::microseconds(kDrainTimeout).count();
      }
    } else if (SystemClock().MonotonicMicros() >= drain_deadline) {
      capture.Close();  // a grandchild holds the pipes; the rank itself is gone
    }
  }
  note(capture.log().FlushAll());

  RankExit record;
  record.rank = identity.rank;
  record.exit = *exit;
  record.ended_at = SystemClock().Now();
  record.tail = capture.log().Tail();
  KILN_RETURN_IF_ERROR(WriteRankExit(dir, record));
  KILN_RETURN_IF_ERROR(capture_status);
  return *exit;
}

void ExitLike(const ExitStatus& exit) {
  if (exit.signaled) {
    const rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    ::signal(exit.signal, SIG_DFL);
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, exit.signal);
    ::sigprocmask(SIG_UNBLOCK, &only, nullptr);
    ::raise(exit.signal);
    std::_Exit(128 + exit.signal);  // a signal whose default action is not to end
  }
  std::_Exit(exit.code);
}

}  // namespace kiln::launch
