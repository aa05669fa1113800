// Run tracking, measured end to end through real jobs (issue 3's targets):
//   1. sustained ingest: one rank calls run.log in a tight Python loop; points per second
//      from its first call until every point is in the store (the run ends only after its
//      spool is ingested). Target >= 1,000,000/s.
//   2. latency of one run.log call as the training loop sees it, timed call by call with
//      time.perf_counter_ns (the timer's own cost is printed beside it). Target p99 < 5 us.
//   3. reading a 1,000,000-point series: `kiln metrics RUN --name latency --format csv` to
//      /dev/null, median of 5. Target < 200 ms.
// The peer for (1) is MLflow as its users measured it (cited, not run here: PyPI is out of
// reach): ~4 ms per point with its batch API.
//
//   build/bench/metrics_bench [points [latency_points]]

#include <fcntl.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "bench/bench_util.h"
#include "common/files.h"
#include "common/time.h"

using namespace kiln;
using namespace kiln::bench;

namespace {

constexpr double kMlflowBatchedSecondsPerPoint = 0.004;

constexpr const char* kThroughputScript = R"(import json, sys, time
from kiln import Run
run = Run.get_context()
n = int(sys.argv[1])
log = run.log
start = time.time()
loop = time.perf_counter()
for i in range(n):
    log("throughput", i)
print(json.dumps({"start_us": int(start * 1e6), "loop_s": time.perf_counter() - loop}))
)";

constexpr const char* kLatencyScript = R"(import json, sys, time
from kiln import Run
run = Run.get_context()
n = int(sys.argv[1])
log = run.log
clock = time.perf_counter_ns
for i in range(10000):  # warm up
    log("warmup", i)
took = [0] * n
for i in range(n):
    before = clock()
    log("latency", i)
    took[i] = clock() - before
timer = [0] * 100000
for i in range(100000):
    before = clock()
    timer[i] = clock() - before
took.sort()
timer.sort()
at = lambda xs, q: xs[min(len(xs) - 1, int(q * len(xs)))]
print(json.dumps({"p50": at(took, 0.5), "p99": at(took, 0.99), "p999": at(took, 0.999),
                  "max": took[-1], "timer_p50": at(timer, 0.5), "timer_p99": at(timer, 0.99)}))
)";

struct JobResult {
  std::string id;
  nlohmann::json printed;  // the job's last output line, as JSON
  nlohmann::json record;   // kiln show --json
};

JobResult RunJob(const std::vector<std::string>& env, const std::filesystem::path& project,
                 const std::string& script, const std::string& argument) {
  if (!WriteFileAtomically(project / "job.py", script).ok()) std::exit(1);
  SpawnOptions submit;
  submit.argv = {KILN_BINARY,      "submit",         "--source-directory",
                 project.string(), "--entry-script", "job.py",
                 "--script-param", argument,         "--wait"};
  submit.env = env;
  const Result<CapturedRun> submitted = RunAndCapture(submit, std::chrono::seconds(600));
  if (!submitted.ok() || !submitted->exit.success()) {
    std::fprintf(stderr, "job failed: %s\n", submitted.ok() ? submitted->err.c_str() : "");
    std::exit(1);
  }
  JobResult result;
  result.id = submitted->out.substr(0, submitted->out.find('\n'));
  SpawnOptions logs;
  logs.argv = {KILN_BINARY, "logs", result.id};
  logs.env = env;
  const Result<CapturedRun> log = RunAndCapture(logs, std::chrono::seconds(60));
  std::string last = log->out;
  while (!last.empty() && last.back() == '\n') last.pop_back();
  result.printed = nlohmann::json::parse(last.substr(last.rfind('\n') + 1));
  SpawnOptions show;
  show.argv = {KILN_BINARY, "show", result.id, "--json"};
  show.env = env;
  result.record = nlohmann::json::parse(RunAndCapture(show, std::chrono::seconds(60))->out);
  return result;
}

double TimeToDevNull(const SpawnOptions& options) {
  UniqueFd devnull(::open("/dev/null", O_WRONLY | O_CLOEXEC));
  SpawnOptions quiet = options;
  quiet.stdout_fd = devnull.get();
  const auto start = std::chrono::steady_clock::now();
  Result<Subprocess> child = RealSpawner().Spawn(quiet);
  if (!child.ok() || !child->Wait()->success()) std::exit(1);
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  const long points = argc > 1 ? std::atol(argv[1]) : 5'000'000;
  const long latency_points = argc > 2 ? std::atol(argv[2]) : 1'000'000;
  TestDir scratch;  // removed when the benchmark ends
  const auto project = scratch.path() / "job";
  if (!CreateDirectories(project).ok()) return 1;
  const std::vector<std::string> env = KilnEnvironment(scratch.path() / "home");

  // 1. Throughput, end to end.
  const JobResult throughput = RunJob(env, project, kThroughputScript, std::to_string(points));
  const Timestamp start = throughput.printed["start_us"];
  const Timestamp ended = *ParseTimestamp(throughput.record["ended_at"].get<std::string>());
  const double seconds = static_cast<double>(ended - start) / 1e6;
  const double rate = static_cast<double>(points) / seconds;
  const double loop_rate = static_cast<double>(points) / throughput.printed["loop_s"].get<double>();
  const double mlflow_rate = 1 / kMlflowBatchedSecondsPerPoint;

  // 2. Latency of one call.
  const JobResult latency = RunJob(env, project, kLatencyScript, std::to_string(latency_points));
  const nlohmann::json& lat = latency.printed;

  // 3. Reading the latency series (latency_points points).
  SpawnOptions read;
  read.argv = {KILN_BINARY, "metrics", latency.id, "--name", "latency", "--format", "csv"};
  read.env = env;
  TimeToDevNull(read);  // warm-up
  std::vector<double> read_ms;
  for (int i = 0; i < 5; ++i) read_ms.push_back(TimeToDevNull(read));

  std::printf("metrics_bench\n");
  std::printf("  ingest, %ld points from one rank's Python loop, first log() to all stored:\n",
              points);
  std::printf("    %12.0f points/s end to end   (target >= 1,000,000/s)  [%.2f s]\n", rate,
              seconds);
  std::printf("    %12.0f points/s in the loop itself\n", loop_rate);
  std::printf("    MLflow batched (cited: ~4 ms/point) %.0f points/s; ratio kiln / MLflow %.0fx\n",
              mlflow_rate, rate / mlflow_rate);
  std::printf("  run.log latency, %ld calls timed one by one (perf_counter_ns):\n", latency_points);
  std::printf("    p50 %.2f us  p99 %.2f us  p99.9 %.2f us  max %.1f us   (target p99 < 5 us)\n",
              lat["p50"].get<double>() / 1e3, lat["p99"].get<double>() / 1e3,
              lat["p999"].get<double>() / 1e3, lat["max"].get<double>() / 1e3);
  std::printf("    the timer alone: p50 %.2f us  p99 %.2f us (included above)\n",
              lat["timer_p50"].get<double>() / 1e3, lat["timer_p99"].get<double>() / 1e3);
  std::printf(
      "  kiln metrics --format csv of %ld points, median of 5: %.1f ms   (target < 200 ms)\n",
      latency_points, Median(read_ms));
  return 0;
}
