#pragma once

// WorkerPool: the Python processes that run a scoring script for `kiln serve`
// (docs/serving.md, "Scoring scripts"), and the requests handed to them, one at a time each.
//
// One worker, from start to end (worker_protocol.h for the frames):
//   1. the supervisor thread makes a socketpair and starts `argv` (the host script,
//      kiln/_score_worker.py, under the environment's python) with one end as its
//      KILN_WORKER_FD, in a process group of its own, killed by the kernel if the
//      supervisor thread ends (PR_SET_PDEATHSIG follows the thread that forked, which is why
//      only this thread starts workers);
//   2. the worker imports the script and calls init(), then sends Ready (or InitFailed and
//      exits); Ready within init_timeout makes it idle;
//   3. Score() takes an idle worker, sends the body, and waits for run()'s answer within
//      request_timeout;
//   4. a worker that dies (SIGKILL, a segfault, os._exit) or does not answer in time is
//      reaped (its group killed) and started again: at once after it had served, after
//      1, 2, 4, ... s (up to max_backoff) while its init() keeps failing; after
//      max_init_failures failures in a row the slot stays failed and Health() says why;
//   5. Stop() closes every socket (the host script exits), waits `stop_grace`, then kills
//      what is left, each worker's whole group.
// At Start() a failure is final: an init() that fails, or does not finish in time, stops the
// pool and Start() returns it.
//
// Threads: Start(), Stop() and the destructor from one owner thread; Score() and Health()
// from any number of threads (the HTTP server's). Score() blocks while it waits for an
// idle worker (at most request_timeout) and while the worker runs.

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "common/subprocess.h"
#include "common/unique_fd.h"

namespace kiln::serve {

struct WorkerPoolOptions {
  // The program and its arguments: {python, ".../kiln/_score_worker.py"}.
  std::vector<std::string> argv;
  // Every worker's environment ("NAME=value"); KILN_WORKER_FD and KILN_WORKER_INDEX are added.
  std::vector<std::string> env;
  std::filesystem::path cwd;
  int workers = 1;
  std::chrono::milliseconds init_timeout{std::chrono::minutes(5)};
  std::chrono::milliseconds request_timeout{std::chrono::seconds(60)};
  int max_init_failures = 5;
  std::chrono::milliseconds first_backoff{std::chrono::seconds(1)};
  std::chrono::milliseconds max_backoff{std::chrono::seconds(30)};
  std::chrono::milliseconds stop_grace{std::chrono::seconds(5)};
  // Requests waiting for a worker beyond this many: ResourceExhausted (503, Retry-After).
  int max_waiting = 256;
  std::size_t max_reply_bytes = 256u << 20;
  // The workers' stdout and stderr.
  int log_fd = 2;
};

// One worker as Health() tells it.
struct WorkerState {
  int index = 0;          // from 1
  pid_t pid = 0;          // 0 when none runs
  std::string state;      // "starting", "ready", "busy", "restarting", "failed"
  int restarts = 0;       // how many times it was started again
  std::string last_exit;  // how the last one ended: "was killed by SIGKILL while scoring"
};

struct PoolHealth {
  std::vector<WorkerState> workers;
  int ready = 0;  // idle or busy: able to score
  int failed = 0;
  std::string last_failure;  // why the last failed slot gave up
};

class WorkerPool {
 public:
  explicit WorkerPool(WorkerPoolOptions options);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Starts every worker and waits until each is ready. InvalidArgument naming the worker and
  // what its import or init() raised (or that it did not finish in time, or exited); the
  // pool is stopped then.
  Status Start();
  void Stop();

  // run(body)'s JSON text. Errors, each for this request only:
  //   InvalidArgument: the body is not UTF-8, or run() raised an exception marked
  //     http_status = 400 (its message);
  //   Internal: run() raised (its type and message), returned what JSON cannot hold, or the
  //     worker died while scoring (how; it is being restarted);
  //   DeadlineExceeded: run() took longer than request_timeout (the worker is restarted);
  //   Unavailable: no worker can score now (all restarting, or failed for good: why);
  //   ResourceExhausted: more than max_waiting requests wait already.
  Result<std::string> Score(std::string_view body);

  PoolHealth Health() const;

 private:
  enum class SlotState { kDown, kStarting, kIdle, kBusy, kFailed };
  struct Slot {
    int index = 0;
    SlotState state = SlotState::kDown;
    std::optional<Subprocess> process;
    UniqueFd channel;
    std::chrono::steady_clock::time_point restart_at;
    std::chrono::steady_clock::time_point init_deadline;
    int init_failures = 0;  // in a row
    int restarts = 0;
    bool ever_started = false;
    std::string last_exit;
  };

  void Supervise();
  // Under mutex_. Starts the slot's worker (kDown -> kStarting), or counts a failure.
  void StartLocked(Slot& slot);
  // Under mutex_. Counts a failed start (kStarting -> kDown with a backoff, or kFailed).
  void InitFailedLocked(Slot& slot, const std::string& why);
  // Reads the first frame of a starting worker (supervisor thread, without the lock).
  void FinishStart(Slot& slot);
  // Waits for a worker to end (killing its group first with `kill`, and after kReapWait in
  // any case), then kills what is left of its group; how it ended. The caller owns the
  // worker's slot and drops its process under mutex_ afterwards.
  static std::string Reap(Subprocess& process, bool kill);
  void ShutDownWorkers();
  // Under mutex_: an idle slot, or null.
  Slot* TakeIdleLocked();
  std::string NoWorkerLocked() const;

  const WorkerPoolOptions options_;
  std::thread supervisor_;

  // Guarded by mutex_: every slot's state and the fields the supervisor and Score() share
  // (a kBusy slot's process and channel belong to the thread scoring on it, a kStarting
  // slot's to the supervisor).
  mutable std::mutex mutex_;
  std::condition_variable changed_;  // a slot became idle, failed, or the pool stops
  std::vector<std::unique_ptr<Slot>> slots_;
  bool starting_ = true;  // before Start() returned: failures are final
  bool stopping_ = false;
  int waiting_ = 0;
  std::string last_failure_;
};

}  // namespace kiln::serve
