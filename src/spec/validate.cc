#include "spec/validate.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <regex>

#include "common/strings.h"

namespace kiln::spec {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxDisplayName = 256;
constexpr std::size_t kMaxTagKey = 128;
constexpr std::size_t kMaxNameLength = 64;

// Names Kiln gives every rank; a job may not set them (docs/job-spec.md).
constexpr std::string_view kReservedVariables[] = {
    "RANK",      "WORLD_SIZE",  "LOCAL_RANK", "LOCAL_WORLD_SIZE",
    "NODE_RANK", "MASTER_ADDR", "MASTER_PORT"};
constexpr std::string_view kReservedPrefix = "KILN_";

bool IsValidName(std::string_view name) {
  static const std::regex kPattern("[A-Za-z0-9][A-Za-z0-9._-]*");
  return !name.empty() && name.size() <= kMaxNameLength &&
         std::regex_match(name.begin(), name.end(), kPattern);
}

bool IsValidVariableName(std::string_view name) {
  static const std::regex kPattern("[A-Za-z_][A-Za-z0-9_]*");
  return std::regex_match(name.begin(), name.end(), kPattern);
}

bool IsExecutableFile(const fs::path& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
         ::access(path.c_str(), X_OK) == 0;
}

// Collects the problems of one spec, worded by its source.
class Checker {
 public:
  Checker(const JobSpec& spec, const SpecSource& source, const ValidateOptions& options)
      : spec_(spec), source_(source), options_(options) {}

  std::vector<Problem> Run() {
    CheckSource();
    CheckScriptParams();
    if (TrimWhitespace(spec_.compute_target).empty()) {
      Field("compute_target", "must not be empty");
    }
    const bool counts_ok = CheckCount("node_count", spec_.node_count) &
                           CheckCount("process_count_per_node", spec_.process_count_per_node);
    CheckNames();
    CheckTags();
    CheckVariables(spec_.environment_variables, "environment_variables");
    if (spec_.max_run_duration_seconds && *spec_.max_run_duration_seconds < 1) {
      Field("max_run_duration_seconds",
            fmt::format("must be >= 1, got {}", *spec_.max_run_duration_seconds));
    }
    if (!spec_.python.empty()) CheckInterpreter("python", spec_.python);
    CheckEnvironment();
    if (counts_ok) CheckBackend();
    return std::move(problems_);
  }

 private:
  void Field(std::string_view field, std::string problem) {
    problems_.push_back(
        {std::string(field), fmt::format("{}: {}", source_.Where(field), problem)});
  }
  void Param(std::string_view name, std::string problem) {
    problems_.push_back(
        {"script_params", fmt::format("{}: {}", source_.WhereParam(name), problem)});
  }
  void General(std::string_view field, std::string problem) {
    problems_.push_back({std::string(field), source_.FilePrefix() + problem});
  }

  void CheckSource() {
    const std::string source_text = source_.AsGiven(spec_.source_directory.string());
    bool source_ok = true;
    if (options_.check_files) {
      std::error_code error;
      if (!fs::exists(spec_.source_directory, error)) {
        Field("source_directory", fmt::format("'{}' does not exist", source_text));
        source_ok = false;
      } else if (!fs::is_directory(spec_.source_directory, error)) {
        Field("source_directory", fmt::format("'{}' is not a directory", source_text));
        source_ok = false;
      }
    }
    const std::string& entry = spec_.entry_script;
    if (entry.empty()) {
      Field("entry_script",
            "is required: the script or program to run, relative to source_directory");
      return;
    }
    const fs::path normal = fs::path(entry).lexically_normal();
    if (normal.is_absolute() || normal.begin()->string() == "..") {
      Field("entry_script", fmt::format("must be a path inside source_directory '{}', got '{}'",
                                        source_text, entry));
      return;
    }
    if (!options_.check_files || !source_ok) return;
    const fs::path entry_path = spec_.source_directory / normal;
    std::error_code error;
    if (!fs::is_regular_file(entry_path, error)) {
      Field("entry_script",
            fmt::format("'{}' not found in source_directory '{}'", entry, source_text));
      return;
    }
    if (!spec_.entry_is_python() && ::access(entry_path.c_str(), X_OK) != 0) {
      Field("entry_script", fmt::format("'{}' is not a .py script and is not executable; make "
                                        "it executable (chmod +x) or name a .py script",
                                        entry));
    }
  }

  void CheckScriptParams() {
    for (const ScriptParam& param : spec_.script_params) {
      if (param.name.empty()) Field("script_params", "argument names must be non-empty");
    }
  }

  bool CheckCount(std::string_view field, int value) {
    if (const std::optional<std::string> problem = CountProblem(value)) {
      Field(field, *problem);
      return false;
    }
    return true;
  }

  void CheckNames() {
    if (!IsValidName(spec_.experiment)) {
      Field("experiment", fmt::format("must be 1 to {} letters, digits, '.', '_' or '-', "
                                      "starting with a letter or digit; got '{}'",
                                      kMaxNameLength, spec_.experiment));
    }
    if (spec_.display_name.size() > kMaxDisplayName) {
      Field("display_name", fmt::format("must be at most {} characters, got {}", kMaxDisplayName,
                                        spec_.display_name.size()));
    }
  }

  void CheckTags() {
    for (const auto& [key, value] : spec_.tags) {
      if (key.empty() || key.size() > kMaxTagKey) {
        Field("tags", fmt::format("keys must be 1 to {} characters, got '{}'", kMaxTagKey, key));
      }
    }
  }

  // Variables a rank may be given: valid names, none that Kiln sets itself.
  void CheckVariables(const std::vector<std::pair<std::string, std::string>>& variables,
                      std::string_view field) {
    for (const auto& [name, value] : variables) {
      if (!IsValidVariableName(name)) {
        Field(field, fmt::format("'{}' is not a valid variable name (letters, digits and "
                                 "'_', not starting with a digit)",
                                 name));
        continue;
      }
      const bool reserved = name.starts_with(kReservedPrefix) ||
                            std::find(std::begin(kReservedVariables), std::end(kReservedVariables),
                                      name) != std::end(kReservedVariables);
      if (reserved) {
        Field(field, fmt::format("{} is set by Kiln for every rank and cannot be set by the job",
                                 name));
      }
    }
  }

  // A bare name ("python3.11") is looked up in PATH at submit; a path must be executable.
  void CheckInterpreter(std::string_view field, const std::string& interpreter) {
    if (!options_.check_files || !fs::path(interpreter).is_absolute()) return;
    if (!IsExecutableFile(interpreter)) {
      Field(field, fmt::format("'{}' is not an executable file", source_.AsGiven(interpreter)));
    }
  }

  void CheckEnvironment() {
    if (!spec_.environment_name.empty() && !IsValidName(spec_.environment_name)) {
      Field("environment", fmt::format("'{}' is not an environment name (letters, digits, '.', "
                                       "'_' and '-', up to {} characters)",
                                       spec_.environment_name, kMaxNameLength));
    }
    if (spec_.environment) CheckEnvironmentDefinition(*spec_.environment);
  }

 public:
  void CheckEnvironmentDefinition(const env::EnvironmentSpec& environment) {
    if (!environment.name.empty() && !IsValidName(environment.name)) {
      Field("environment: name", fmt::format("'{}' is not an environment name", environment.name));
    }
    if (!environment.python.empty()) CheckInterpreter("environment: python", environment.python);
    if (options_.check_files) {
      for (const std::string& link : environment.pip_find_links) {
        if (link.find("://") != std::string::npos) continue;
        std::error_code error;
        if (!fs::is_directory(link, error)) {
          Field("environment: pip_find_links",
                fmt::format("'{}' is not a folder", source_.AsGiven(link)));
        }
      }
    }
    CheckVariables(environment.environment_variables, "environment: environment_variables");
  }
  std::vector<Problem> TakeProblems() { return std::move(problems_); }

 private:
  // Several ranks talk over a distributed backend.
  void CheckBackend() {
    if (spec_.distributed_backend != DistributedBackend::kNone) return;
    if (spec_.node_count > 1) {
      General("distributed_backend",
              fmt::format("node_count is {} but distributed_backend is none; set mpi, gloo or nccl",
                          spec_.node_count));
    } else if (spec_.process_count_per_node > 1) {
      General("distributed_backend",
              fmt::format("process_count_per_node is {} but distributed_backend is none; set "
                          "mpi, gloo or nccl",
                          spec_.process_count_per_node));
    }
  }

  const JobSpec& spec_;
  const SpecSource& source_;
  const ValidateOptions& options_;
  std::vector<Problem> problems_;
};

}  // namespace

std::optional<std::string> CountProblem(std::int64_t value) {
  if (value < kMinCount) return fmt::format("must be >= {}, got {}", kMinCount, value);
  if (value > kMaxCount) return fmt::format("must be <= {}, got {}", kMaxCount, value);
  return std::nullopt;
}

std::vector<Problem> FindProblems(const JobSpec& spec, const SpecSource& source,
                                  const ValidateOptions& options) {
  return Checker(spec, source, options).Run();
}

std::vector<Problem> FindEnvironmentProblems(const env::EnvironmentSpec& environment,
                                             const SpecSource& source,
                                             const ValidateOptions& options) {
  const JobSpec none;
  Checker checker(none, source, options);
  checker.CheckEnvironmentDefinition(environment);
  return checker.TakeProblems();
}

Status Validate(const JobSpec& spec, const SpecSource& source, const ValidateOptions& options) {
  const std::vector<Problem> problems = FindProblems(spec, source, options);
  if (problems.empty()) return Status::Ok();
  std::vector<std::string> lines;
  for (const Problem& problem : problems) lines.push_back(problem.line);
  return InvalidArgumentError(JoinStrings(lines, "\n"));
}

}  // namespace kiln::spec
