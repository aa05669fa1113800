#include "launch/slurm_job.h"

#include <fmt/format.h>

#include <array>

#include "common/strings.h"
#include "common/subprocess.h"

namespace kiln::launch {
namespace {

bool Unreachable(std::string_view err) {
  return err.find("Unable to contact slurm controller") != std::string_view::npos ||
         err.find("Connection refused") != std::string_view::npos ||
         err.find("Socket timed out") != std::string_view::npos ||
         err.find("Zero Bytes were transmitted") != std::string_view::npos;
}

}  // namespace

std::string OnelinerField(std::string_view line, std::string_view key) {
  const std::string needle = fmt::format("{}=", key);
  std::size_t at = 0;
  while ((at = line.find(needle, at)) != std::string_view::npos) {
    if (at == 0 || line[at - 1] == ' ') break;
    at += needle.size();
  }
  if (at == std::string_view::npos) return "";
  const std::size_t begin = at + needle.size();
  const std::size_t end = line.find_first_of(" \n", begin);
  return std::string(line.substr(begin, end == std::string_view::npos ? end : end - begin));
}

std::vector<std::string> SlurmEnvironment(const std::string& slurm_conf) {
  std::vector<std::string> env;
  for (std::string& entry : CurrentEnvironment()) {
    if (!slurm_conf.empty() && entry.starts_with("SLURM_CONF=")) continue;
    env.push_back(std::move(entry));
  }
  if (!slurm_conf.empty()) env.push_back("SLURM_CONF=" + slurm_conf);
  return env;
}

Result<std::string> RunSlurmCommand(const std::vector<std::string>& argv,
                                    const std::string& slurm_conf,
                                    std::chrono::milliseconds timeout,
                                    const std::vector<std::string>& extra_env) {
  SpawnOptions options;
  options.argv = argv;
  std::vector<std::string> env = SlurmEnvironment(slurm_conf);
  for (const std::string& entry : extra_env) {
    const std::string prefix = entry.substr(0, entry.find('=') + 1);
    std::erase_if(env, [&](const std::string& e) { return e.starts_with(prefix); });
    env.push_back(entry);
  }
  options.env = std::move(env);
  options.new_process_group = true;
  Result<CapturedRun> run = RunAndCapture(options, timeout);
  if (!run.ok()) {
    return run.status().WithPrefix(
        fmt::format("cannot run {} (is Slurm's client installed?)", argv.empty() ? "" : argv[0]));
  }
  if (run->exit.success()) return std::move(run->out);
  const std::string err(TrimWhitespace(run->err));
  const std::string what = fmt::format("{} {}: {}", argv[0], run->exit.Describe(),
                                       err.empty() ? TrimWhitespace(run->out) : err);
  if (Unreachable(err)) return UnavailableError(what);
  return FailedPreconditionError(what);
}

SlurmJob ParseSlurmJob(std::string_view line) {
  return {OnelinerField(line, "JobId"), OnelinerField(line, "JobState"),
          OnelinerField(line, "Reason"), OnelinerField(line, "NodeList")};
}

Result<std::optional<SlurmJob>> QuerySlurmJob(std::string_view job_id,
                                              const std::string& slurm_conf) {
  Result<std::string> out =
      RunSlurmCommand({"scontrol", "show", "job", "--oneliner", std::string(job_id)}, slurm_conf);
  if (!out.ok()) {
    if (out.status().message().find("Invalid job id") != std::string::npos) {
      return std::optional<SlurmJob>();
    }
    return out.status();
  }
  SlurmJob job = ParseSlurmJob(*out);
  if (job.state.empty()) return std::optional<SlurmJob>();
  return std::optional<SlurmJob>(std::move(job));
}

Result<std::map<std::string, SlurmJob>> QuerySlurmQueue(const std::string& slurm_conf) {
  KILN_ASSIGN_OR_RETURN(
      const std::string out,
      RunSlurmCommand({"squeue", "--states=all", "--noheader", "--format=%i|%T|%r|%N"},
                      slurm_conf));
  return ParseSlurmQueue(out);
}

std::map<std::string, SlurmJob> ParseSlurmQueue(std::string_view text) {
  std::map<std::string, SlurmJob> jobs;
  for (const std::string& line : SplitString(text, '\n')) {
    const std::vector<std::string> fields = SplitString(TrimWhitespace(line), '|');
    if (fields.size() != 4 || fields[0].empty() || fields[1].empty()) continue;
    SlurmJob job{fields[0], fields[1], fields[2], fields[3]};
    jobs.emplace(job.id, std::move(job));
  }
  return jobs;
}

bool IsSlurmStateActive(std::string_view state) {
  constexpr std::array kActive = {"PENDING",   "CONFIGURING",  "RUNNING",    "COMPLETING",
                                  "SUSPENDED", "REQUEUED",     "RESIZING",   "SIGNALING",
                                  "STAGE_OUT", "REQUEUE_HOLD", "REQUEUE_FED"};
  for (const char* active : kActive) {
    if (state == active) return true;
  }
  return false;
}

std::optional<std::string> SlurmEndReason(const SlurmJob& job) {
  // While Slurm stops a job (COMPLETING), the state to come shows only in the reason.
  if (job.state == "COMPLETING" || job.state == "CANCELLED") {
    if (job.reason == "NodeDown") return SlurmEndReason({job.id, "NODE_FAIL", "", job.nodes});
    if (job.reason == "TimeLimit") return SlurmEndReason({job.id, "TIMEOUT", "", job.nodes});
  }
  const auto said = [&](std::string_view what) {
    return fmt::format("Slurm ended job {} with {}: {}", job.id, job.state, what);
  };
  if (job.state == "TIMEOUT") return said("it reached its time limit");
  if (job.state == "NODE_FAIL") {
    return said(fmt::format("a node of its allocation ({}) failed", job.nodes));
  }
  if (job.state == "OUT_OF_MEMORY") return said("a process ran out of memory");
  if (job.state == "PREEMPTED") return said("a job of higher priority preempted it");
  if (job.state == "BOOT_FAIL") return said("a node of its allocation failed to boot");
  if (job.state == "DEADLINE") return said("it reached its deadline");
  return std::nullopt;
}

}  // namespace kiln::launch
