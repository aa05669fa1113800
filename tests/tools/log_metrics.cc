// A C++ entry program that logs through Kiln's C++ Run API (tracking/run.h), as a libtorch
// training program would. Used by the end-to-end tests.
//
//   log_metrics POINTS [--kill]    logs POINTS values of "loss", a row, a tag; with --kill
//                                  it then SIGKILLs itself (no exit handlers, no flush)

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tracking/run.h"

int main(int argc, char** argv) {
  const long points = argc > 1 ? std::atol(argv[1]) : 10;
  const bool kill = argc > 2 && std::strcmp(argv[2], "--kill") == 0;
  kiln::tracking::Run& run = kiln::tracking::Run::GetContext();
  std::printf("run %s rank %d offline %d\n", run.id().c_str(), run.rank(), run.offline() ? 1 : 0);
  std::fflush(stdout);
  for (long i = 0; i < points; ++i) {
    const kiln::Status logged = run.Log("loss", 1.0 / static_cast<double>(i + 1));
    if (!logged.ok()) {
      std::fprintf(stderr, "%s\n", logged.ToString().c_str());
      return 1;
    }
  }
  const std::pair<std::string, double> row[] = {{"epoch", 1}, {"accuracy", 0.5}};
  if (!run.LogRow("scores", row).ok() || !run.Tag("language", "c++").ok()) return 1;
  std::printf("logged %ld\n", points);
  std::fflush(stdout);
  if (kill) ::kill(::getpid(), SIGKILL);
  return 0;
}
