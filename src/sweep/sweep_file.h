#pragma once

// LoadSweepFile: a sweep file (YAML; docs/sweeps.md) read into a SweepSpec.
//
// The file has the fields of the sweep's JSON form (sweep_spec.h). Its `trial` is the path
// of a job file, relative to the sweep file's folder, or a job written inline; either is
// loaded as `kiln submit` loads a job file, with the same checks. Every problem names the
// file and field: "sweep.yaml: limits.max_total_trials: must be a whole number from 1 to
// 100000, got 0". Nothing is written anywhere.

#include <filesystem>

#include "common/result.h"
#include "spec/spec_loader.h"
#include "sweep/sweep_spec.h"

namespace kiln::sweep {

struct LoadedSweep {
  SweepSpec spec;
  spec::LoadedJob trial;  // the trial job as loaded, with where its fields came from
};

// `label` names the file in messages (the path as given by default).
Result<LoadedSweep> LoadSweepFile(const std::filesystem::path& file, std::string_view label = "");

// YAML text (JSON is YAML) as JSON, with YAML 1.2's core schema for plain scalars: for a
// policy given on the command line. InvalidArgument "<label>: ..." when it does not parse.
Result<nlohmann::json> YamlTextToJson(std::string_view text, std::string_view label);

// A sweep whose trial job was loaded elsewhere (the SDK's estimator): `sweep` has every
// field but `trial`, checked as a file's are and named `label` in messages.
Result<LoadedSweep> LoadSweep(nlohmann::json sweep, spec::LoadedJob trial, std::string_view label);

}  // namespace kiln::sweep
