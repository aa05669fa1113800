// WorkerPool with real Python workers: the real host script (kiln/_score_worker.py) runs
// scoring scripts written here, and workers are really killed.

#include "serve/worker_pool.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>

#include "common/test_dir.h"

namespace kiln::serve {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// Echoes the body with its pid; "boom" divides by zero, "slow" sleeps, "tensor" returns what
// JSON cannot hold, "bad" raises an exception marked as the client's fault.
constexpr const char* kScript = R"py(
import json, os, subprocess, time
MODEL = None

class NotAnImage(ValueError):
    http_status = 400

def init():
    global MODEL
    MODEL = open(os.path.join(os.environ["KILN_MODEL_DIR"], "weights.txt")).read().strip()
    if os.environ.get("SPAWN_CHILD"):
        child = subprocess.Popen(["sleep", "1000"])
        open(os.environ["SPAWN_CHILD"], "a").write(f"{child.pid}\n")
    flag = os.environ.get("FAIL_AFTER_FIRST")
    if flag:
        if os.path.exists(flag):
            raise RuntimeError("the model store is gone")
        open(flag, "w").close()

def run(raw_data):
    if raw_data == "boom":
        return 1 / 0
    if raw_data.startswith("slow"):
        time.sleep(float(raw_data.split()[0][4:] or 30))
    if raw_data == "tensor":
        return object()
    if raw_data == "bad":
        raise NotAnImage("expected 784 pixels")
    return {"echo": raw_data, "model": MODEL, "pid": os.getpid()}
)py";

class WorkerPoolTest : public ::testing::Test {
 protected:
  WorkerPoolTest() {
    std::filesystem::create_directories(dir_.path() / "model");
    std::ofstream(dir_.path() / "model" / "weights.txt") << "w-1\n";
    Write("score.py", kScript);
  }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_.path() / name) << text;
  }

  WorkerPoolOptions Options(int workers = 1, const std::string& script = "score.py") {
    WorkerPoolOptions options;
    options.argv = {"/usr/bin/python3", KILN_SCORE_WORKER};
    options.env = {"PATH=/usr/bin:/bin", "PYTHONUNBUFFERED=1",
                   "KILN_MODEL_DIR=" + (dir_.path() / "model").string(),
                   "KILN_SCORE_SCRIPT=" + (dir_.path() / script).string()};
    options.cwd = dir_.path();
    options.workers = workers;
    options.init_timeout = 30s;
    options.request_timeout = 30s;
    options.first_backoff = 50ms;
    return options;
  }

  static pid_t WorkerPid(const WorkerPool& pool, int index = 1) {
    return pool.Health().workers.at(static_cast<size_t>(index - 1)).pid;
  }

  // Waits until every worker is ready again.
  static bool AllReady(const WorkerPool& pool) {
    for (int i = 0; i < 300; ++i) {
      const PoolHealth health = pool.Health();
      if (health.ready == static_cast<int>(health.workers.size())) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  TestDir dir_;
};

// Running, not a zombie waiting for its parent (init) to reap it.
bool Alive(pid_t pid) {
  if (::kill(pid, 0) != 0) return false;
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string line;
  std::getline(stat, line);
  const size_t close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

TEST_F(WorkerPoolTest, RunAnswersEachBodyAndAnExceptionIsThatRequestsOnly) {
  WorkerPool pool(Options());
  ASSERT_TRUE(pool.Start().ok());
  const json first = json::parse(pool.Score(R"({"x": [1, 2]})").value());
  EXPECT_EQ(first["echo"], R"({"x": [1, 2]})");
  EXPECT_EQ(first["model"], "w-1") << "init() read KILN_MODEL_DIR";

  const Status raised = pool.Score("boom").status();
  EXPECT_EQ(raised.code(), StatusCode::kInternal);
  EXPECT_EQ(raised.message(), "run() raised ZeroDivisionError: division by zero");
  const Status bad = pool.Score("bad").status();
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.message(), "expected 784 pixels");
  const Status not_json = pool.Score("tensor").status();
  EXPECT_EQ(not_json.code(), StatusCode::kInternal);
  EXPECT_NE(not_json.message().find("run() returned a value that is not JSON: Object of type "
                                    "object is not JSON serializable"),
            std::string::npos)
      << not_json.message();
  const Status binary = pool.Score(std::string("\xff\xfe", 2)).status();
  EXPECT_EQ(binary.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(binary.message().find("the body is not UTF-8 text"), std::string::npos);

  EXPECT_EQ(json::parse(pool.Score("again").value())["pid"], first["pid"])
      << "the same worker served on";
  EXPECT_EQ(pool.Health().workers[0].restarts, 0);
}

TEST_F(WorkerPoolTest, AWorkerKilledWhileScoringFailsThatRequestAndIsStartedAgain) {
  WorkerPool pool(Options());
  ASSERT_TRUE(pool.Start().ok());
  const pid_t pid = WorkerPid(pool);
  std::thread killer([&] {
    std::this_thread::sleep_for(500ms);
    ::kill(pid, SIGKILL);
  });
  const Status died = pool.Score("slow").status();
  killer.join();
  EXPECT_EQ(died.code(), StatusCode::kInternal);
  EXPECT_EQ(died.message(), fmt::format("worker 1 (pid {}) died while scoring this request: it was "
                                        "killed by SIGKILL; it is started again",
                                        pid));
  const json next = json::parse(pool.Score("after").value());
  EXPECT_NE(next["pid"], pid) << "a new worker answered";
  EXPECT_EQ(pool.Health().workers[0].restarts, 1);
  EXPECT_EQ(pool.Health().workers[0].last_exit, "was killed by SIGKILL while scoring");
}

TEST_F(WorkerPoolTest, AWorkerKilledWhileIdleIsReplacedWithoutFailingARequest) {
  WorkerPool pool(Options());
  ASSERT_TRUE(pool.Start().ok());
  const pid_t pid = WorkerPid(pool);
  ::kill(pid, SIGKILL);
  // Once the supervisor has seen it (a request sent in the moment before would be taken as
  // one the worker died scoring), a request waits for the new worker.
  for (int i = 0; i < 100 && pool.Health().workers[0].restarts == 0; ++i) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(pool.Health().workers[0].last_exit, "was killed by SIGKILL while idle");
  const Result<std::string> answer = pool.Score("next");
  ASSERT_TRUE(answer.ok()) << answer.status().message();
  EXPECT_NE(json::parse(*answer)["pid"], pid);
}

TEST_F(WorkerPoolTest, RunPastTheTimeoutIsStoppedAndTheWorkerReplaced) {
  WorkerPoolOptions options = Options();
  options.request_timeout = 1s;
  WorkerPool pool(options);
  ASSERT_TRUE(pool.Start().ok());
  const pid_t pid = WorkerPid(pool);
  const Status late = pool.Score("slow").status();
  EXPECT_EQ(late.code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(late.message(),
            "run() did not answer within 1 s (kiln serve --request-timeout-s); worker 1 was "
            "stopped and is started again");
  EXPECT_FALSE(Alive(pid));
  EXPECT_TRUE(pool.Score("fine").ok());
}

TEST_F(WorkerPoolTest, AFailingInitFailsTheStartWithItsReason) {
  Write("broken.py",
        "def init():\n    raise RuntimeError('no weights here')\n\ndef run(d):\n"
        "    return d\n");
  Write("norun.py", "def init():\n    pass\n");
  Write("exits.py", "import os\ndef init():\n    os._exit(7)\ndef run(d):\n    return d\n");
  const auto start = [&](const std::string& script) {
    WorkerPool pool(Options(2, script));
    return pool.Start();
  };
  const Status broken = start("broken.py");
  EXPECT_EQ(broken.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(broken.message().substr(broken.message().find(':') + 2),
            "RuntimeError: no weights here");
  const Status norun = start("norun.py");
  EXPECT_NE(norun.message().find("AttributeError: norun.py defines no run(): a scoring script "
                                 "defines init() and run(raw_data) at its top level"),
            std::string::npos)
      << norun.message();
  EXPECT_NE(start("exits.py").message().find("it exited with code 7 before init() returned"),
            std::string::npos);
  EXPECT_NE(start("missing.py").message().find("FileNotFoundError"), std::string::npos);
}

TEST_F(WorkerPoolTest, AnInitThatKeepsFailingAfterStartIsGivenUpOnAndSaysWhy) {
  WorkerPoolOptions options = Options();
  options.env.push_back("FAIL_AFTER_FIRST=" + (dir_.path() / "started-once").string());
  options.max_init_failures = 3;
  WorkerPool pool(options);
  ASSERT_TRUE(pool.Start().ok());
  ::kill(WorkerPid(pool), SIGKILL);
  for (int i = 0; i < 200 && pool.Health().failed == 0; ++i) std::this_thread::sleep_for(50ms);
  const PoolHealth health = pool.Health();
  ASSERT_EQ(health.failed, 1);
  EXPECT_EQ(health.workers[0].state, "failed");
  EXPECT_EQ(health.last_failure,
            "worker 1: RuntimeError: the model store is gone (it failed 3 times in a row; it is "
            "not started again)");
  const Status refused = pool.Score("x").status();
  EXPECT_EQ(refused.code(), StatusCode::kUnavailable);
  EXPECT_EQ(refused.message(), "no worker can score: " + health.last_failure);
}

TEST_F(WorkerPoolTest, ConcurrentRequestsAreSpreadOverTheWorkers) {
  WorkerPool pool(Options(3));
  ASSERT_TRUE(pool.Start().ok());
  constexpr int kThreads = 8, kRequests = 15;
  std::atomic<int> failures{0};
  std::mutex mutex;
  std::set<int> pids;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRequests; ++r) {
        const std::string body = fmt::format("slow0.01 {}-{}", t, r);
        const Result<std::string> answer = pool.Score(body);
        if (!answer.ok() || json::parse(*answer)["echo"] != body) {
          ++failures;
          continue;
        }
        std::lock_guard lock(mutex);
        pids.insert(json::parse(*answer)["pid"].get<int>());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures, 0) << "every client got its own answer";
  EXPECT_EQ(pids.size(), 3u) << "every worker served";
}

TEST_F(WorkerPoolTest, StoppingEndsEveryWorkerAndWhatItStarted) {
  WorkerPoolOptions options = Options(2);
  const std::filesystem::path children = dir_.path() / "children";
  options.env.push_back("SPAWN_CHILD=" + children.string());
  std::vector<pid_t> pids;
  {
    WorkerPool pool(options);
    ASSERT_TRUE(pool.Start().ok());
    for (const WorkerState& worker : pool.Health().workers) pids.push_back(worker.pid);
    std::ifstream in(children);
    for (pid_t child; in >> child;) pids.push_back(child);
    ASSERT_EQ(pids.size(), 4u);
    for (const pid_t pid : pids) EXPECT_TRUE(Alive(pid));
  }
  for (const pid_t pid : pids) {
    // SIGKILL is delivered at once, but dying takes a moment.
    for (int i = 0; i < 100 && Alive(pid); ++i) std::this_thread::sleep_for(20ms);
    EXPECT_FALSE(Alive(pid)) << pid << " outlived the pool";
  }
}

}  // namespace
}  // namespace kiln::serve
