#include "compute/slurm/sbatch_script.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "common/strings.h"
#include "common/tunables.h"
#include "launch/rank_env.h"
#include "launch/store_access.h"

namespace kiln::compute {
namespace {

// The launcher's own variables, beyond what its ranks may inherit.
constexpr std::string_view kLauncherVariables[] = {
    launch::kStoreUrlVariable, launch::kStoreTokenVariable, kKillGraceSeconds.env,
    kServerPatienceSeconds.env};

bool IsVariableName(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

Status CheckOneLine(std::string_view what, std::string_view value) {
  if (value.find('\n') == std::string_view::npos && value.find('\r') == std::string_view::npos &&
      value.find('\0') == std::string_view::npos) {
    return Status::Ok();
  }
  return InvalidArgumentError(fmt::format(
      "{} '{}' holds a line break or a NUL, which cannot be written into a batch script; "
      "choose a value without one",
      what, ShellQuote(value)));
}

}  // namespace

std::string SbatchQuote(std::string_view value) {
  const bool plain = !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("@%+=:,./-_").find(c) != std::string_view::npos;
  });
  if (plain) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '\\' || c == '"' || c == '$' || c == '`') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

std::vector<std::string> SbatchExportNames(const std::vector<std::string>& env) {
  std::vector<std::string> names;
  for (const std::string& entry : env) {
    const std::string name = entry.substr(0, entry.find('='));
    if (!IsVariableName(name)) continue;
    const bool launcher = std::find(std::begin(kLauncherVariables), std::end(kLauncherVariables),
                                    name) != std::end(kLauncherVariables);
    // SLURM_* of sbatch's own environment describe no allocation of this job; Slurm sets
    // the job's.
    if (launcher || launch::IsInheritedVariable(name, /*in_allocation=*/false)) {
      names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

Result<std::string> SbatchScript(const SlurmConfig& config, const launch::RunPlan& plan,
                                 const launch::RunDir& dir,
                                 const std::filesystem::path& kiln_program,
                                 const std::vector<std::string>& export_names) {
  const std::string job_name = "kiln-" + plan.run_id;
  KILN_RETURN_IF_ERROR(CheckOneLine("the job name", job_name));
  KILN_RETURN_IF_ERROR(CheckOneLine("the partition", config.partition));
  KILN_RETURN_IF_ERROR(CheckOneLine("the run directory", dir.root().string()));
  KILN_RETURN_IF_ERROR(CheckOneLine("the kiln program", kiln_program.string()));
  KILN_RETURN_IF_ERROR(CheckOneLine("slurm_conf", config.slurm_conf));
  for (const std::string& name : export_names) {
    if (!IsVariableName(name)) {
      return InvalidArgumentError(
          fmt::format("'{}' is not a variable name for --export", ShellQuote(name)));
    }
  }

  std::string script = "#!/bin/sh\n";
  const auto directive = [&](std::string_view option, std::string_view value) {
    script += fmt::format("#SBATCH {}={}\n", option, SbatchQuote(value));
  };
  directive("--job-name", job_name);
  directive("--partition", config.partition);
  directive("--nodes", std::to_string(plan.ranks.node_count));
  directive("--ntasks-per-node", std::to_string(plan.ranks.process_count_per_node));
  if (plan.use_gpu) {
    directive("--gpus-per-node", std::to_string(plan.ranks.process_count_per_node));
  }
  directive("--output", dir.launcher_log().string());
  directive("--open-mode", "append");
  // Kiln decides what a failed run becomes; Slurm must not start it again by itself.
  script += "#SBATCH --no-requeue\n";
  // Only these reach the job (NONE when there are none): never the whole environment of
  // the submitting process, which holds the server's own credentials.
  directive("--export", export_names.empty() ? "NONE" : JoinStrings(export_names, ","));
  // sbatch's --export list would otherwise be every job step's too; the launcher hands
  // srun and mpirun the whole environment it built for them.
  script += "export SLURM_EXPORT_ENV=ALL\n";
  if (!config.slurm_conf.empty()) {
    script += fmt::format("export SLURM_CONF={}\n", ShellQuote(config.slurm_conf));
  }
  script += fmt::format("exec {} launch {}\n", ShellQuote(kiln_program.string()),
                        ShellQuote(dir.root().string()));
  return script;
}

}  // namespace kiln::compute
