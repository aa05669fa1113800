// Snapshot cost of a large source folder: 1 GB in 10,000 files (distinct contents).
// Times `kiln submit` (which snapshots the folder) the first time, when every file is read
// and stored, and then resubmitting the unchanged folder, when the stat cache means no file
// is read. Target (issue 2): resubmit under 1 s. Each run's job does nothing and its run
// directory is removed after it ends, to bound disk use (about 3 GB at the peak).
//
//   build/bench/snapshot_resubmit [files [bytes_per_file [resubmits]]]

#include <fmt/format.h>

#include <cstdio>
#include <cstring>
#include <thread>

#include "bench/bench_util.h"
#include "common/files.h"
#include "common/strings.h"

using namespace kiln;
using namespace kiln::bench;

namespace {

std::string SubmitAndClean(const SpawnOptions& submit, const SpawnOptions& wait_template,
                           const std::filesystem::path& home, double& ms) {
  const auto start = std::chrono::steady_clock::now();
  const Result<CapturedRun> run = RunAndCapture(submit, std::chrono::seconds(600));
  ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!run.ok() || !run->exit.success()) {
    std::fprintf(stderr, "submit failed: %s\n", run.ok() ? run->err.c_str() : "");
    std::exit(1);
  }
  const std::string id = run->out.substr(0, run->out.find('\n'));
  SpawnOptions wait = wait_template;
  wait.argv.push_back(id);
  wait.argv.push_back("--follow");
  TimeCommand(wait);
  RemoveTree(home / "runs" / id).IgnoreError();
  return id;
}

}  // namespace

int main(int argc, char** argv) {
  const int files = argc > 1 ? std::atoi(argv[1]) : 10'000;
  const std::size_t bytes_per_file = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 100'000;
  const int resubmits = argc > 3 ? std::atoi(argv[3]) : 5;
  TestDir scratch;  // removed when the benchmark ends
  const auto project = scratch.path() / "big";
  const auto home = scratch.path() / "home";
  std::fprintf(stderr, "writing %d files of %zu bytes...\n", files, bytes_per_file);
  for (int i = 0; i < files; ++i) {
    const auto path = project / fmt::format("d{:03}", i / 100) / fmt::format("f{:05}.bin", i);
    if ((i % 100 == 0 && !CreateDirectories(path.parent_path()).ok()) ||
        !WriteDistinctFile(path, bytes_per_file, static_cast<std::uint64_t>(i))) {
      return 1;
    }
  }
  if (!WriteFileAtomically(project / "noop.py", "pass\n").ok()) return 1;
  // Files changed within the last 2 s are always re-read (see snapshot/stat_cache.h);
  // a folder a person resubmits has not just been written.
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));

  const std::vector<std::string> env =
      KilnEnvironment(home, {"KILN_SNAPSHOT_MAX_MB=100000", "KILN_SNAPSHOT_MAX_FILES=1000000"});
  SpawnOptions submit;
  submit.argv = {KILN_BINARY,      "submit",         "--source-directory",
                 project.string(), "--entry-script", "noop.py"};
  submit.env = env;
  SpawnOptions logs;
  logs.argv = {KILN_BINARY, "logs"};
  logs.env = env;

  double first_ms = 0;
  SubmitAndClean(submit, logs, home, first_ms);
  std::vector<double> again_ms;
  for (int i = 0; i < resubmits; ++i) {
    double ms = 0;
    SubmitAndClean(submit, logs, home, ms);
    again_ms.push_back(ms);
  }
  const double total = static_cast<double>(files) * static_cast<double>(bytes_per_file);
  const double again = Median(again_ms);
  std::printf("snapshot_resubmit: %s in %s files\n",
              HumanBytes(static_cast<std::uint64_t>(total)).c_str(),
              HumanCount(static_cast<std::uint64_t>(files)).c_str());
  std::printf("  first submit (reads and stores every file)  %9.1f ms  (%.0f MB/s)\n", first_ms,
              total / 1e6 / (first_ms / 1e3));
  std::printf("  resubmit unchanged, median of %d            %9.1f ms  (target < 1000 ms)\n",
              resubmits, again);
  std::printf("  ratio resubmit / first                      %9.3f x\n", again / first_ms);
  return 0;
}
