#pragma once

// Validate: the one check of a JobSpec's values, whichever way the job came in (a job file,
// `kiln submit` flags, the Python SDK, POST /v1/runs). Parsing (spec_loader.h for YAML and
// flags, spec_json.h for the JSON form) only turns text into a JobSpec; every rule about the
// values lives here, so no way in can skip one.
//
// Rules that keep values out of places they must not reach: names that become paths, run
// ids or lines of a generated script (experiment, compute_target, environment names, tag
// keys) are 1 to 64 (tag keys 128) of [A-Za-z0-9._-] starting with a letter or digit;
// variable names are [A-Za-z_][A-Za-z0-9_]*; paths (source_directory, entry_script,
// python, ...) hold no control characters and entry_script stays inside source_directory;
// all text is UTF-8; script arguments and variable values hold no NUL and fit the kernel's
// limits on one argument and on the whole command line. docs/job-spec.md lists them.
//
// Every problem is reported, one line each, "<where>: <problem>" with <where> from
// SpecSource ("job.yaml: node_count", "--node-count"), e.g.
//   job.yaml: node_count: must be >= 1, got 0
//   --experiment: must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter
//   or digit; got 'a b'
// Validate() returns them as one InvalidArgument status; nothing is written anywhere.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "spec/job_spec.h"
#include "spec/spec_source.h"

namespace kiln::spec {

// Bounds of node_count and process_count_per_node, the same for every way in.
inline constexpr std::int64_t kMinCount = 1;
inline constexpr std::int64_t kMaxCount = 100000;
inline constexpr std::int64_t kMaxRunDurationSeconds = 10LL * 366 * 24 * 3600;
// The kernel's limit on one argument or environment string, its NUL included
// (MAX_ARG_STRLEN: 32 pages of 4 KiB).
inline constexpr std::size_t kMaxArgumentBytes = 128 * 1024;

// What the ranks' argument list and environment together may take: ARG_MAX less this
// process's own environment (which a rank inherits) and a reserve for the interpreter, the
// run directory's path and the variables Kiln adds.
std::size_t CommandLineBudget();

struct ValidateOptions {
  // Checks against this machine's filesystem: source_directory is a folder, the entry
  // script is a file in it (executable unless it ends in .py), `python` and
  // `environment: python` are executable, local pip_find_links are folders. A server
  // skips them: those paths are on the client's machine, and the server checks the entry
  // script against the snapshot the client sent instead.
  bool check_files = true;
  // Limits for the ranks' command line: one argument or "NAME=VALUE" (with its NUL), and
  // the entry, script_params and environment_variables together (each string with its
  // NUL and pointer), as execve(2) counts them.
  std::size_t max_argument_bytes = kMaxArgumentBytes;
  std::size_t max_command_bytes = CommandLineBudget();
};

// One problem: `field` is the field it is about ("node_count", "environment: python"), and
// `line` the whole message line.
struct Problem {
  std::string field;
  std::string line;
};

std::vector<Problem> FindProblems(const JobSpec& spec, const SpecSource& source,
                                  const ValidateOptions& options = {});

// FindProblems() as one InvalidArgument status (lines joined by '\n'); OK when none.
[[nodiscard]] Status Validate(const JobSpec& spec, const SpecSource& source,
                              const ValidateOptions& options = {});

// The problems of an environment definition alone (`kiln env register`, and a job's
// `environment` mapping), with fields named "environment: <key>".
std::vector<Problem> FindEnvironmentProblems(const env::EnvironmentSpec& environment,
                                             const SpecSource& source,
                                             const ValidateOptions& options = {});

// The problem with a count field's value, worded as Validate words it ("must be >= 1, got
// 0"); nullopt when it is in bounds.
std::optional<std::string> CountProblem(std::int64_t value);

}  // namespace kiln::spec
