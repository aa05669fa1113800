// What Kiln adds to a job: `kiln submit --wait` of a script that does nothing, against
// running `/usr/bin/python3 noop.py` directly. Medians of 10 after a warm-up run.
// Target (issue 2): under 150 ms added.
//
//   build/bench/submit_overhead [runs]

#include <cstdio>

#include "bench/bench_util.h"
#include "common/files.h"

using namespace kiln;
using namespace kiln::bench;

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::atoi(argv[1]) : 10;
  TestDir scratch;  // removed when the benchmark ends
  const auto project = scratch.path() / "noop";
  if (!CreateDirectories(project).ok() ||
      !WriteFileAtomically(project / "noop.py", "pass\n").ok()) {
    return 1;
  }
  const std::vector<std::string> env = KilnEnvironment(scratch.path() / "home");

  SpawnOptions direct;
  direct.argv = {"/usr/bin/python3", "noop.py"};
  direct.cwd = project;
  SpawnOptions submit;
  submit.argv = {KILN_BINARY, "submit", "--source-directory", project.string(), "--entry-script",
                 "noop.py",   "--wait"};
  submit.env = env;

  TimeCommand(direct);  // warm-up: page cache, interpreter
  TimeCommand(submit);  // warm-up: creates the store and snapshot store
  std::vector<double> direct_ms, kiln_ms;
  for (int i = 0; i < runs; ++i) {  // interleaved, so both see the same machine load
    direct_ms.push_back(TimeCommand(direct));
    kiln_ms.push_back(TimeCommand(submit));
  }
  const double peer = Median(direct_ms);
  const double kiln = Median(kiln_ms);
  std::printf("submit_overhead: median of %d\n", runs);
  std::printf("  /usr/bin/python3 noop.py (peer)   %8.1f ms\n", peer);
  std::printf("  kiln submit --wait noop.py        %8.1f ms\n", kiln);
  std::printf("  added by kiln                     %8.1f ms   (target < 150 ms)\n", kiln - peer);
  std::printf("  ratio kiln / peer                 %8.2f x\n", kiln / peer);
  return 0;
}
