#pragma once

// Loading a JobSpec from a YAML job file and/or `kiln submit` flags.
//
// 1. The file (when given) is parsed; relative paths in it are relative to its folder.
// 2. Flags override the file: a scalar flag replaces the field; --script-param, --tag and
//    --env entries replace the entry of the same name or are appended; package flags are
//    appended. Relative paths in flags are relative to the current directory.
// 3. The spec is checked by Validate() (validate.h), the one check every way in shares.
//    Problems of the text itself (an unknown field, a list where a number belongs) and
//    of the values are reported together, one line each, in the form
//    "<file>: <field>: <problem>" (or "--<flag>: <problem>" for a flag), e.g.
//      job.yaml: node_count: must be >= 1, got 0
//      job.yaml: unknown field 'node_cout'; did you mean 'node_count'?
// Errors come back as one InvalidArgument status. Nothing is written anywhere.

#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "spec/job_spec.h"
#include "spec/spec_source.h"

namespace kiln::spec {

// Fields given on the command line, as text, exactly as the user typed them.
struct SpecOverrides {
  // Scalar fields by field name ("node_count" -> "2", "use_gpu" -> "true").
  std::map<std::string, std::string> scalars;
  std::vector<ScriptParam> script_params;
  std::vector<std::pair<std::string, std::string>> tags;
  std::vector<std::pair<std::string, std::string>> environment_variables;
  std::vector<std::string> conda_packages;
  std::vector<std::string> pip_packages;
  // Where relative paths given as flags are resolved (the current directory).
  std::filesystem::path base_dir;
};

struct LoadedJob {
  JobSpec spec;
  SpecSource source;
  std::optional<std::filesystem::path> job_file;  // absolute
};

// An environment file for `kiln env register`: YAML with the fields of a job's
// `environment` mapping (docs/environments.md), checked the same way; relative
// pip_find_links are relative to the file's folder.
Result<env::EnvironmentSpec> LoadEnvironmentFile(const std::filesystem::path& file);
// The same for a definition given as text (JSON is YAML), named `label` in errors, with
// relative pip_find_links taken from `base_dir`.
Result<env::EnvironmentSpec> LoadEnvironmentFromText(std::string_view yaml_text,
                                                     std::string_view label,
                                                     const std::filesystem::path& base_dir);

// Every top-level field a job file may hold, in documentation order.
const std::vector<std::string_view>& KnownFields();

// `job_file` may be empty (everything from flags). `job_file_label` is how messages name
// the file; by default the path as given.
Result<LoadedJob> LoadJobSpec(const std::optional<std::filesystem::path>& job_file,
                              const SpecOverrides& overrides);

// The same, from YAML text (for tests and the SDK); `label` names it in messages and
// `base_dir` anchors its relative paths.
Result<LoadedJob> LoadJobSpecFromText(std::string_view yaml_text, std::string_view label,
                                      const std::filesystem::path& base_dir,
                                      const SpecOverrides& overrides);

}  // namespace kiln::spec
