#include "e2e/sweep_files.h"

#include <fmt/format.h>

#include <chrono>
#include <thread>

namespace kiln::e2e {

const char* const kSweepTrial = R"(import argparse, sys, time
from kiln import Run
p = argparse.ArgumentParser()
p.add_argument("--quality", type=float, required=True)
p.add_argument("--intervals", type=int, default=3)
p.add_argument("--pause", type=float, default=0.1)
a = p.parse_args()
print("argv", sys.argv[1:], flush=True)
run = Run.get_context()
for i in range(1, a.intervals + 1):
    run.log("score", a.quality * i / a.intervals)
    time.sleep(a.pause)
)";

std::string SweepFileText(const std::filesystem::path& project, const std::string& extra,
                          const std::string& params) {
  return fmt::format(R"(trial:
  source_directory: {}
  entry_script: train.py
  experiment: sweeps
  script_params: {}
objective: {{primary_metric: score, goal: maximize}}
{})",
                     project.string(), params, extra);
}

bool DriverLetGo(const std::function<nlohmann::json()>& show) {
  for (int i = 0; i < 100; ++i) {
    const nlohmann::json shown = show();
    if (shown.is_object() && shown["driver_alive"] == false) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace kiln::e2e
