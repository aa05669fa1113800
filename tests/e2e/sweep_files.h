#pragma once

// What the sweep tests submit: a trial script whose curve is known in advance, and sweep
// files around it.

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace kiln::e2e {

// Logs `--quality` * interval / `--intervals` once per interval (`--pause` seconds apart)
// and prints its arguments.
extern const char* const kSweepTrial;

// A sweep file whose trial is train.py in `project` (experiment "sweeps", maximising
// "score"), with `params` as the trial's script_params and `extra` appended.
std::string SweepFileText(const std::filesystem::path& project, const std::string& extra,
                          const std::string& params = "{}");

// A driver records its sweep's end, then lets go of it: polls `show` (a sweep's
// `sweep show --json`) for up to 5 s until driver_alive is false; whether it became so.
bool DriverLetGo(const std::function<nlohmann::json()>& show);

}  // namespace kiln::e2e
