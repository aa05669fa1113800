#pragma once

// JobSpec: one training job as the user described it, with every parameter of the
// estimator. docs/job-spec.md is the user's reference for the same fields.
//
// A JobSpec that came out of LoadJobSpec() is valid: paths are absolute and exist, numbers
// are in range and the fields agree with each other. Whether a compute target can run it
// (nodes, GPUs) is the target's decision, not the spec's.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "env/environment_spec.h"

namespace kiln::spec {

inline constexpr int kJobSpecVersion = 1;
inline constexpr std::string_view kDefaultExperiment = "default";
inline constexpr std::string_view kDefaultComputeTarget = "local";

enum class DistributedBackend { kNone, kMpi, kGloo, kNccl };

std::string_view BackendName(DistributedBackend backend);
std::optional<DistributedBackend> ParseBackend(std::string_view name);

// One entry of script_params, in the order the user wrote them. `value` may hold datastore
// references ("{datastore:NAME/sub}"), resolved at submit. A bare flag has no value.
struct ScriptParam {
  std::string name;
  std::optional<std::string> value;

  friend bool operator==(const ScriptParam&, const ScriptParam&) = default;
};

struct JobSpec {
  std::filesystem::path source_directory;  // absolute
  std::string entry_script;                // relative to source_directory, '/'-separated
  std::vector<ScriptParam> script_params;
  std::string compute_target = std::string(kDefaultComputeTarget);
  std::vector<std::string> conda_packages;
  std::vector<std::string> pip_packages;
  bool use_gpu = false;
  int node_count = 1;
  int process_count_per_node = 1;
  // What each rank takes of a target that counts slots (the local target's cores, or its
  // GPUs when use_gpu): launch/slot_queue.h.
  int slots_per_rank = 1;
  DistributedBackend distributed_backend = DistributedBackend::kNone;
  std::string experiment = std::string(kDefaultExperiment);
  std::string display_name;
  std::map<std::string, std::string> tags;
  std::vector<std::pair<std::string, std::string>> environment_variables;
  std::optional<std::int64_t> max_run_duration_seconds;
  // Interpreter for a .py entry script; empty means KILN_PYTHON's value.
  std::string python;
  // `environment` as a definition (docs/environments.md). Submit adds pip_packages and
  // conda_packages to it, and stores the spec with the definition it resolved.
  std::optional<env::EnvironmentSpec> environment;
  // `environment: NAME`: a registered environment, looked up at submit.
  std::string environment_name;
  // Set by submit: the hash of the environment the run's ranks use; empty for none.
  std::string environment_hash;

  int world_size() const { return node_count * process_count_per_node; }
  // True when the entry script runs under an interpreter (it ends in ".py").
  bool entry_is_python() const;

  friend bool operator==(const JobSpec&, const JobSpec&) = default;
};

}  // namespace kiln::spec
