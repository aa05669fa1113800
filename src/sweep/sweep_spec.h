#pragma once

// SweepSpec: a hyperparameter sweep, as a sweep file (sweep_file.h), the Python SDK's
// HyperDriveConfig and the REST API describe it (docs/sweeps.md). Its JSON form is stored
// as the sweep run's spec, so a restarted driver reads everything it needs from the store.
//
//   {"version": 1,
//    "experiment": "fm-sweep",                      optional: the trial's experiment
//    "display_name": "...",                         optional
//    "trial": {...},                                the trial job, spec/spec_json.h's form
//    "search_space": {"--lr": {...}, ...},          search_space.h
//    "sampling": {"type": "random", "seed": 7},     random | grid | bayesian
//    "objective": {"primary_metric": "accuracy", "goal": "maximize"},
//    "limits": {"max_total_trials": 20, "max_concurrent_trials": 2, "timeout_minutes": 60},
//    "early_termination": {"type": "bandit", ...},  termination_policy.h; optional
//    "resume_from": ["<sweep id>", ...]}            optional
//
// SweepFromJson checks every field and names the one that is wrong, "<label>: <field>:
// <problem>", as job files do; nothing is written anywhere.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "launch/run_plan.h"
#include "spec/job_spec.h"
#include "sweep/objective.h"
#include "sweep/sampler.h"
#include "sweep/search_space.h"

namespace kiln::sweep {

inline constexpr std::int64_t kMaxTrials = 100000;
// HyperDrive's default and cap for max_duration_minutes: 7 days.
inline constexpr std::int64_t kDefaultTimeoutMinutes = 10080;
inline constexpr std::size_t kMaxResumeFrom = 16;

struct SweepLimits {
  std::int64_t max_total_trials = 0;
  std::int64_t max_concurrent_trials = 0;
  std::int64_t timeout_minutes = kDefaultTimeoutMinutes;
};

struct SweepSpec {
  std::string experiment;
  std::string display_name;
  spec::JobSpec trial;
  SearchSpace search_space;
  SamplingSettings sampling;
  bool seed_given = false;  // false: the submit draws one and stores it
  Objective objective;
  SweepLimits limits;
  nlohmann::json early_termination;  // TerminationPolicy::ToJson(), defaults filled in
  std::vector<std::string> resume_from;
  // How trials that wait for the local target's slots start (docs/sweeps.md, "Warm
  // start"); nullopt: cold, each its own fresh interpreter once its turn comes.
  std::optional<launch::WarmStartPlan> warm_start = launch::WarmStartPlan{};
};

// `label` names the source in messages: "sweep.yaml", "HyperDriveConfig".
Result<SweepSpec> SweepFromJson(const nlohmann::json& json, std::string_view label);
nlohmann::json SweepToJson(const SweepSpec& sweep);

}  // namespace kiln::sweep
