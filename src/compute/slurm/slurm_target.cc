#include "compute/slurm/slurm_target.h"

#include <fmt/format.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/strings.h"
#include "compute/slurm/sbatch_script.h"
#include "launch/slurm_job.h"

namespace kiln::compute {
namespace fs = std::filesystem;

namespace {

fs::path SlurmJobFile(const launch::RunDir& dir) { return dir.root() / "slurm.json"; }
fs::path BatchScriptFile(const launch::RunDir& dir) { return dir.root() / "slurm.sbatch"; }

}  // namespace

std::optional<std::string> SlurmJobOfRun(const launch::RunDir& dir) {
  const Result<std::string> text = ReadFileToString(SlurmJobFile(dir));
  if (!text.ok()) return std::nullopt;
  const nlohmann::json record = nlohmann::json::parse(*text, nullptr, false);
  if (!record.is_object() || !record.contains("job_id") || !record["job_id"].is_string()) {
    return std::nullopt;
  }
  return record["job_id"].get<std::string>();
}

SlurmTarget::SlurmTarget(std::string name, SlurmConfig config, fs::path kiln_program)
    : name_(std::move(name)), config_(std::move(config)), kiln_program_(std::move(kiln_program)) {}

std::optional<launch::ClusterPlan> SlurmTarget::Cluster() const {
  return launch::ClusterPlan{"slurm", config_.network, config_.slurm_conf};
}

Result<int> SlurmTarget::PartitionNodes() const {
  Result<std::string> out = launch::RunSlurmCommand(
      {"scontrol", "show", "partition", "--oneliner", config_.partition}, config_.slurm_conf);
  if (!out.ok()) {
    if (out.status().message().find("not found") != std::string::npos ||
        out.status().message().find("Invalid partition") != std::string::npos) {
      return NotFoundError(fmt::format("Slurm has no partition '{}'", config_.partition));
    }
    return out.status();
  }
  const std::optional<std::int64_t> nodes = ParseInt64(launch::OnelinerField(*out, "TotalNodes"));
  if (!nodes) {
    return InternalError(
        fmt::format("scontrol did not say how many nodes partition '{}' has", config_.partition));
  }
  return static_cast<int>(*nodes);
}

Status SlurmTarget::Admit(const spec::JobSpec& spec, const spec::SpecSource& source) const {
  std::vector<std::string> problems;
  if (spec.node_count > config_.max_nodes) {
    problems.push_back(
        fmt::format("{}: compute target '{}' allows at most {} nodes per run (--max-nodes), got {}",
                    source.Where("node_count"), name_, config_.max_nodes, spec.node_count));
  } else {
    Result<int> nodes = PartitionNodes();
    if (!nodes.ok()) {
      return Status(nodes.status().code(),
                    fmt::format("{}: compute target '{}': {}", source.Where("compute_target"),
                                name_, nodes.status().message()));
    }
    if (spec.node_count > *nodes) {
      problems.push_back(fmt::format(
          "{}: Slurm partition '{}' of compute target '{}' has {} nodes, the job asks for {}; "
          "it would wait forever",
          source.Where("node_count"), config_.partition, name_, *nodes, spec.node_count));
    }
  }
  if (std::string gpu = GpuBackendProblem(spec, source); !gpu.empty()) {
    problems.push_back(std::move(gpu));
  }
  if (problems.empty()) return Status::Ok();
  return InvalidArgumentError(JoinStrings(problems, "\n"));
}

Status SlurmTarget::Submit(const launch::RunDir& dir, launch::LauncherLock lock,
                           const launch::StoreAccess& access) {
  // The launcher takes the lock itself, on whichever node Slurm starts it, once this hands
  // it over: after slurm.json names the job, so that no reader in between sees a run with
  // neither a launcher nor a job (launcher_lock.h). The launcher waits for it meanwhile.
  const launch::LauncherLock held = std::move(lock);
  KILN_ASSIGN_OR_RETURN(const launch::RunPlan plan, launch::ReadPlan(dir));
  // The store access goes to the job through sbatch's environment and --export, by name.
  const std::vector<std::string> access_env = launch::StoreAccessVariables(access);
  std::vector<std::string> sbatch_env = launch::SlurmEnvironment(config_.slurm_conf);
  sbatch_env.insert(sbatch_env.end(), access_env.begin(), access_env.end());
  KILN_ASSIGN_OR_RETURN(const std::string script, SbatchScript(config_, plan, dir, kiln_program_,
                                                               SbatchExportNames(sbatch_env)));
  KILN_RETURN_IF_ERROR(WriteFileAtomically(BatchScriptFile(dir), script));
  Result<std::string> out = launch::RunSlurmCommand(
      {"sbatch", "--parsable", "--chdir", dir.root().string(), BatchScriptFile(dir).string()},
      config_.slurm_conf, std::chrono::seconds(30), access_env);
  if (!out.ok()) return out.status().WithPrefix("Slurm refused the job");
  // --parsable prints "<id>" or "<id>;<cluster>".
  std::string job_id(TrimWhitespace(*out));
  job_id = job_id.substr(0, job_id.find(';'));
  if (!ParseInt64(job_id)) {
    return InternalError(fmt::format("sbatch answered '{}', not a job id", *out));
  }
  return WriteFileAtomically(SlurmJobFile(dir),
                             nlohmann::json{{"job_id", job_id}, {"target", name_}}.dump() + "\n");
}

namespace {

// What a run's launcher lock and Slurm's view of its job (`job` when the run reached the
// queue) say of its launcher.
Probe ProbeOf(bool launcher_alive, const std::optional<std::string>& job_id,
              const Result<std::optional<launch::SlurmJob>>& job) {
  if (!job_id) {
    if (launcher_alive) return Probe{LauncherState::kAlive, "", ""};
    return Probe{LauncherState::kDead, "", "the run never reached Slurm's queue"};
  }
  if (!job.ok()) {
    return Probe{LauncherState::kUnknown,
                 fmt::format("Slurm job {}: {}", *job_id, job.status().message()), ""};
  }
  if (launcher_alive) {
    return Probe{LauncherState::kAlive,
                 job->has_value() ? fmt::format("Slurm job {} is {}", *job_id, (*job)->state) : "",
                 ""};
  }
  if (!job->has_value()) {
    return Probe{LauncherState::kDead, "",
                 fmt::format("Slurm job {} vanished from Slurm before the run ended", *job_id)};
  }
  const launch::SlurmJob& known = **job;
  if (known.state == "PENDING") {
    return Probe{LauncherState::kAlive,
                 fmt::format("Slurm job {} is PENDING ({})", *job_id, known.reason), ""};
  }
  if (launch::IsSlurmStateActive(known.state)) {
    // Running, but the launcher has not taken the lock yet (it is starting).
    return Probe{LauncherState::kAlive,
                 fmt::format("Slurm job {} is {} on {}", *job_id, known.state, known.nodes), ""};
  }
  const std::optional<std::string> ended = launch::SlurmEndReason(known);
  return Probe{LauncherState::kDead, "",
               ended.value_or(fmt::format("Slurm job {} ended {} without its launcher recording "
                                          "an outcome (see launcher.log)",
                                          *job_id, known.state))};
}

}  // namespace

Result<Probe> SlurmTarget::Check(const store::Run& run) const {
  const launch::RunDir dir(run.run_dir);
  KILN_ASSIGN_OR_RETURN(const bool launcher_alive, launch::IsLauncherAlive(dir.lock()));
  const std::optional<std::string> job_id = SlurmJobOfRun(dir);
  if (!job_id) return ProbeOf(launcher_alive, job_id, std::optional<launch::SlurmJob>());
  return ProbeOf(launcher_alive, job_id, launch::QuerySlurmJob(*job_id, config_.slurm_conf));
}

std::vector<Result<Probe>> SlurmTarget::CheckAll(const std::vector<store::Run>& runs) const {
  // Each lock is read before its slurm.json, as Check() does: a submitter writes slurm.json
  // before it lets the lock go, so a lock found free means slurm.json is there to read if
  // the run ever had a job. (Read the other way round, a submit finishing in between looks
  // like a run that never reached the queue.)
  std::vector<Result<bool>> alive;
  for (const store::Run& run : runs) {
    alive.push_back(launch::IsLauncherAlive(launch::RunDir(run.run_dir).lock()));
  }
  std::vector<std::optional<std::string>> job_ids;
  bool any_job = false;
  for (const store::Run& run : runs) {
    job_ids.push_back(SlurmJobOfRun(launch::RunDir(run.run_dir)));
    any_job = any_job || job_ids.back().has_value();
  }
  // One question to slurmctld for all of them.
  Result<std::map<std::string, launch::SlurmJob>> queue =
      any_job ? launch::QuerySlurmQueue(config_.slurm_conf)
              : Result<std::map<std::string, launch::SlurmJob>>(
                    std::map<std::string, launch::SlurmJob>());
  std::vector<Result<Probe>> probes;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (!alive[i].ok()) {
      probes.push_back(alive[i].status());
      continue;
    }
    Result<std::optional<launch::SlurmJob>> job = std::optional<launch::SlurmJob>();
    if (!queue.ok()) {
      job = queue.status();
    } else if (job_ids[i]) {
      const auto found = queue->find(*job_ids[i]);
      if (found != queue->end()) job = std::optional<launch::SlurmJob>(found->second);
    }
    probes.push_back(ProbeOf(*alive[i], job_ids[i], job));
  }
  return probes;
}

Status SlurmTarget::Cancel(const store::Run& run) {
  const std::optional<std::string> job_id = SlurmJobOfRun(launch::RunDir(run.run_dir));
  if (!job_id) return Status::Ok();
  return launch::RunSlurmCommand({"scancel", *job_id}, config_.slurm_conf).status();
}

Result<std::string> SlurmTarget::StopRemains(const store::Run& run) {
  const std::optional<std::string> job_id = SlurmJobOfRun(launch::RunDir(run.run_dir));
  if (!job_id) return std::string("no Slurm job was left");
  const Status canceled =
      launch::RunSlurmCommand({"scancel", *job_id}, config_.slurm_conf).status();
  // A job that has ended already cannot be canceled, and needs not be.
  if (canceled.code() == StatusCode::kUnavailable) return canceled;
  return fmt::format("Slurm job {} is gone", *job_id);
}

}  // namespace kiln::compute
