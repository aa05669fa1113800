#include "spec/validate.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <regex>

#include "common/strings.h"
#include "spec/run_labels.h"
#include "spec/text_checks.h"

extern char** environ;

namespace kiln::spec {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxNameLength = 64;
// The interpreter, the run directory's path and the variables Kiln gives every rank.
constexpr std::size_t kCommandLineReserve = 16 * 1024;

// Names Kiln gives every rank; a job may not set them (docs/job-spec.md).
constexpr std::string_view kReservedVariables[] = {
    "RANK",      "WORLD_SIZE",  "LOCAL_RANK", "LOCAL_WORLD_SIZE",
    "NODE_RANK", "MASTER_ADDR", "MASTER_PORT"};
constexpr std::string_view kReservedPrefix = "KILN_";

bool IsName(std::string_view name, std::size_t max_length) {
  static const std::regex kPattern("[A-Za-z0-9][A-Za-z0-9._-]*");
  return !name.empty() && name.size() <= max_length &&
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
    if (spec_.compute_target.empty()) {
      Field("compute_target", "must not be empty");
    } else {
      CheckName("compute_target", spec_.compute_target, kMaxNameLength);
    }
    CheckPackages("conda_packages", spec_.conda_packages);
    CheckPackages("pip_packages", spec_.pip_packages);
    const bool counts_ok = CheckCount("node_count", spec_.node_count) &
                           CheckCount("process_count_per_node", spec_.process_count_per_node);
    CheckCount("slots_per_rank", spec_.slots_per_rank);
    CheckName("experiment", spec_.experiment, kMaxNameLength);
    if (std::optional<std::string> problem = DisplayNameProblem(spec_.display_name)) {
      Field("display_name", *problem);
    }
    CheckTags();
    CheckVariables(spec_.environment_variables, "environment_variables");
    if (const std::optional<std::int64_t> limit = spec_.max_run_duration_seconds) {
      if (*limit < 1) {
        Field("max_run_duration_seconds", fmt::format("must be >= 1, got {}", *limit));
      } else if (*limit > kMaxRunDurationSeconds) {
        Field("max_run_duration_seconds",
              fmt::format("must be <= {} (ten years), got {}", kMaxRunDurationSeconds, *limit));
      }
    }
    if (!spec_.python.empty()) CheckInterpreter("python", spec_.python);
    CheckEnvironment();
    if (!spec_.environment_hash.empty()) {
      Field("environment_hash", "is set by Kiln at submit; leave it empty");
    }
    CheckCommandLine();
    if (counts_ok) CheckBackend();
    return std::move(problems_);
  }

  void CheckEnvironmentDefinition(const env::EnvironmentSpec& environment) {
    if (!environment.name.empty() && !IsName(environment.name, kMaxNameLength)) {
      Field("environment: name",
            fmt::format("'{}' is not an environment name", Printable(environment.name)));
    }
    if (!environment.python.empty()) CheckInterpreter("environment: python", environment.python);
    CheckPackages("environment: pip_packages", environment.pip_packages);
    CheckPackages("environment: conda_packages", environment.conda_packages);
    Text("environment: pip_index_url", environment.pip_index_url, TextKind::kLine);
    for (const std::string& link : environment.pip_find_links) {
      if (!Text("environment: pip_find_links", link, TextKind::kLine)) continue;
      if (!options_.check_files || link.find("://") != std::string::npos) continue;
      std::error_code error;
      if (!fs::is_directory(link, error)) {
        Field("environment: pip_find_links",
              fmt::format("'{}' is not a folder", source_.AsGiven(link)));
      }
    }
    CheckVariables(environment.environment_variables, "environment: environment_variables");
  }
  std::vector<Problem> TakeProblems() { return std::move(problems_); }

 private:
  void Field(std::string_view field, std::string problem) {
    problems_.push_back({std::string(field), fmt::format("{}: {}", source_.Where(field), problem)});
  }
  void Param(std::string_view name, std::string problem) {
    problems_.push_back(
        {"script_params", fmt::format("{}: {}", source_.WhereParam(Printable(name)), problem)});
  }
  void General(std::string_view field, std::string problem) {
    problems_.push_back({std::string(field), source_.FilePrefix() + problem});
  }
  // True when `text` is acceptable as `kind`; reports it otherwise.
  bool Text(std::string_view field, std::string_view text, TextKind kind) {
    const std::optional<std::string> problem = TextProblem(text, kind);
    if (problem) Field(field, *problem);
    return !problem;
  }

  void CheckSource() {
    const std::string source_text = source_.AsGiven(spec_.source_directory.string());
    bool source_ok = Text("source_directory", spec_.source_directory.string(), TextKind::kLine);
    if (source_ok && !spec_.source_directory.is_absolute()) {
      Field("source_directory",
            fmt::format("must be an absolute path, got '{}'", spec_.source_directory.string()));
      source_ok = false;
    }
    if (source_ok && options_.check_files) {
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
    if (!Text("entry_script", entry, TextKind::kLine)) return;
    const fs::path normal = fs::path(entry).lexically_normal();
    if (normal.is_absolute() || normal.begin()->string() == "..") {
      Field("entry_script", fmt::format("must be a path inside source_directory '{}', got '{}'",
                                        source_text, entry));
      return;
    }
    if (normal.generic_string() != entry || entry.ends_with('/')) {
      Field("entry_script", fmt::format("must be a plain relative path such as 'train.py' or "
                                        "'src/train.py', got '{}'",
                                        entry));
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
      if (param.name.empty()) {
        Field("script_params", "argument names must be non-empty");
        continue;
      }
      if (std::optional<std::string> problem = TextProblem(param.name, TextKind::kLine)) {
        Param(param.name, "the name's " + *problem);
        continue;
      }
      CheckArgumentSize(param.name, "the name", param.name.size());
      if (!param.value) continue;
      if (std::optional<std::string> problem = TextProblem(*param.value, TextKind::kArgument)) {
        Param(param.name, "the value's " + *problem);
        continue;
      }
      CheckArgumentSize(param.name, "the value", param.value->size());
    }
  }

  // One argument (with its NUL) must fit MAX_ARG_STRLEN.
  void CheckArgumentSize(const std::string& name, std::string_view what, std::size_t size) {
    if (size + 1 <= options_.max_argument_bytes) return;
    Param(name, fmt::format("{} is {} bytes; one argument may hold at most {} (the kernel's "
                            "MAX_ARG_STRLEN); pass long values in a file",
                            what, size, options_.max_argument_bytes - 1));
  }

  // Names that become paths, run ids or script lines.
  void CheckName(std::string_view field, const std::string& name, std::size_t max_length) {
    if (IsName(name, max_length)) return;
    Field(field, fmt::format("must be 1 to {} letters, digits, '.', '_' or '-', starting with a "
                             "letter or digit; got '{}'",
                             max_length, Printable(name)));
  }

  // Packages become arguments of pip or conda: text, never an option of their own.
  void CheckPackages(std::string_view field, const std::vector<std::string>& packages) {
    for (std::size_t i = 0; i < packages.size(); ++i) {
      const std::string& package = packages[i];
      if (TrimWhitespace(package).empty()) {
        Field(field, fmt::format("entry {} must be non-empty text", i + 1));
      } else if (std::optional<std::string> problem = TextProblem(package, TextKind::kLine)) {
        Field(field, fmt::format("entry {}: {}", i + 1, *problem));
      } else if (package.starts_with('-')) {
        Field(field, fmt::format("entry {}: '{}' is an option, not a package; options belong "
                                 "in an environment definition (docs/environments.md)",
                                 i + 1, package));
      }
    }
  }

  bool CheckCount(std::string_view field, int value) {
    if (const std::optional<std::string> problem = CountProblem(value)) {
      Field(field, *problem);
      return false;
    }
    return true;
  }

  void CheckTags() {
    for (const auto& [key, value] : spec_.tags) {
      if (std::optional<std::string> problem = TagKeyProblem(key)) {
        Field("tags", *problem);
      } else if (std::optional<std::string> value_problem = TagValueProblem(value)) {
        Field("tags", fmt::format("{}: {}", key, *value_problem));
      }
    }
  }

  // Variables a rank may be given: valid names, none that Kiln sets itself, values an
  // environment can hold.
  void CheckVariables(const std::vector<std::pair<std::string, std::string>>& variables,
                      std::string_view field) {
    for (const auto& [name, value] : variables) {
      if (!IsValidVariableName(name)) {
        Field(field, fmt::format("'{}' is not a valid variable name (letters, digits and "
                                 "'_', not starting with a digit)",
                                 Printable(name)));
        continue;
      }
      const bool reserved = name.starts_with(kReservedPrefix) ||
                            std::find(std::begin(kReservedVariables), std::end(kReservedVariables),
                                      name) != std::end(kReservedVariables);
      if (reserved) {
        Field(field,
              fmt::format("{} is set by Kiln for every rank and cannot be set by the job", name));
      } else if (std::optional<std::string> problem = TextProblem(value, TextKind::kArgument)) {
        Field(field, fmt::format("{}: the value's {}", name, *problem));
      } else if (name.size() + 1 + value.size() + 1 > options_.max_argument_bytes) {
        Field(field,
              fmt::format("{}: the value is {} bytes; one variable may hold at most {} "
                          "(the kernel's MAX_ARG_STRLEN, with its name)",
                          name, value.size(), options_.max_argument_bytes - name.size() - 2));
      }
    }
  }

  // The entry, its arguments and the job's variables as execve(2) counts them.
  void CheckCommandLine() {
    const auto cost = [](std::size_t length) { return length + 1 + sizeof(char*); };
    std::size_t bytes = cost(spec_.python.size()) + cost(spec_.entry_script.size());
    for (const ScriptParam& param : spec_.script_params) {
      bytes += cost(param.name.size());
      if (param.value) bytes += cost(param.value->size());
    }
    for (const auto& [name, value] : spec_.environment_variables) {
      bytes += cost(name.size() + 1 + value.size());
    }
    if (bytes <= options_.max_command_bytes) return;
    Field("script_params",
          fmt::format("the ranks' command line and environment_variables take {} bytes; this "
                      "machine allows {} (ARG_MAX less its environment); pass long values in a "
                      "file",
                      bytes, options_.max_command_bytes));
  }

  // A bare name ("python3.11") is looked up in PATH at submit; a path must be executable.
  void CheckInterpreter(std::string_view field, const std::string& interpreter) {
    if (!Text(field, interpreter, TextKind::kLine)) return;
    if (!options_.check_files || !fs::path(interpreter).is_absolute()) return;
    if (!IsExecutableFile(interpreter)) {
      Field(field, fmt::format("'{}' is not an executable file", source_.AsGiven(interpreter)));
    }
  }

  void CheckEnvironment() {
    // NAME, or NAME:VERSION for one version of it.
    std::string_view name = spec_.environment_name;
    bool version_ok = true;
    if (const std::size_t colon = name.rfind(':'); colon != std::string_view::npos) {
      const std::string_view version = name.substr(colon + 1);
      version_ok =
          !version.empty() && version.size() <= 18 && version.front() != '0' &&
          std::all_of(version.begin(), version.end(), [](char c) { return c >= '0' && c <= '9'; });
      name = name.substr(0, colon);
    }
    if (!spec_.environment_name.empty() && (!IsName(name, kMaxNameLength) || !version_ok)) {
      Field("environment", fmt::format("'{}' is not an environment name (letters, digits, '.', "
                                       "'_' and '-', up to {} characters), with ':VERSION' "
                                       "(a number from 1) for one of its versions",
                                       Printable(spec_.environment_name), kMaxNameLength));
    }
    if (spec_.environment) CheckEnvironmentDefinition(*spec_.environment);
  }

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

std::size_t CommandLineBudget() {
  const long arg_max = ::sysconf(_SC_ARG_MAX);
  std::size_t budget = arg_max > 0 ? static_cast<std::size_t>(arg_max) : 2u << 20;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    budget -= std::min(budget, std::char_traits<char>::length(*entry) + 1 + sizeof(char*));
  }
  return budget - std::min(budget, kCommandLineReserve);
}

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
