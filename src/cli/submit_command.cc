// kiln submit [JOB.yaml] [field flags] [--wait | --stream] [-- script args...]

#include <fmt/format.h>
#include <unistd.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/output.h"
#include "client/run_watch.h"
#include "client/submit.h"
#include "common/strings.h"
#include "spec/spec_loader.h"

namespace kiln::cli {
namespace {

struct SubmitFlags {
  std::string job_file;
  std::map<std::string, std::string> scalars;  // field -> text
  std::vector<std::string> script_params;      // NAME=VALUE or NAME
  std::vector<std::string> tags;               // KEY=VALUE
  std::vector<std::string> env;                // NAME=VALUE
  std::vector<std::string> conda_packages;
  std::vector<std::string> pip_packages;
  bool wait = false;
  bool stream = false;
};

// Scalar fields settable by a flag of the same name ("node_count" -> --node-count).
constexpr const char* kScalarFields[] = {"source_directory",
                                         "entry_script",
                                         "compute_target",
                                         "node_count",
                                         "process_count_per_node",
                                         "slots_per_rank",
                                         "distributed_backend",
                                         "experiment",
                                         "display_name",
                                         "max_run_duration_seconds",
                                         "python",
                                         "environment"};

Result<std::pair<std::string, std::string>> SplitAssignment(const std::string& text,
                                                            const std::string& flag) {
  const std::size_t equals = text.find('=');
  if (equals == std::string::npos || equals == 0) {
    return InvalidArgumentError(fmt::format("{}: expected NAME=VALUE, got '{}'", flag, text));
  }
  return std::make_pair(text.substr(0, equals), text.substr(equals + 1));
}

// "--epochs 2 --verbose --lr=0.1 input.txt" -> (--epochs, 2), (--verbose), (--lr, 0.1),
// (input.txt). A token after a name is its value unless it looks like a name itself.
std::vector<spec::ScriptParam> ParsePassthrough(const std::vector<std::string>& args) {
  const auto is_name = [](const std::string& token) {
    return token.size() > 1 && token[0] == '-' && !ParseInt64(token) &&
           !(std::isdigit(static_cast<unsigned char>(token[1])) || token[1] == '.');
  };
  std::vector<spec::ScriptParam> params;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& token = args[i];
    if (is_name(token)) {
      if (const std::size_t equals = token.find('='); equals != std::string::npos) {
        params.push_back({token.substr(0, equals), token.substr(equals + 1)});
      } else if (i + 1 < args.size() && !is_name(args[i + 1])) {
        params.push_back({token, args[i + 1]});
        ++i;
      } else {
        params.push_back({token, std::nullopt});
      }
    } else {
      params.push_back({token, std::nullopt});
    }
  }
  return params;
}

Result<spec::SpecOverrides> ToOverrides(const SubmitFlags& flags, const CliContext& context) {
  spec::SpecOverrides overrides;
  overrides.scalars = flags.scalars;
  overrides.base_dir = std::filesystem::current_path();
  for (const std::string& text : flags.script_params) {
    const std::size_t equals = text.find('=');
    if (equals == std::string::npos) {
      overrides.script_params.push_back({text, std::nullopt});
    } else {
      overrides.script_params.push_back({text.substr(0, equals), text.substr(equals + 1)});
    }
  }
  for (const spec::ScriptParam& param : ParsePassthrough(context.passthrough)) {
    overrides.script_params.push_back(param);
  }
  for (const std::string& text : flags.tags) {
    KILN_ASSIGN_OR_RETURN(auto tag, SplitAssignment(text, "--tag"));
    overrides.tags.push_back(std::move(tag));
  }
  for (const std::string& text : flags.env) {
    KILN_ASSIGN_OR_RETURN(auto variable, SplitAssignment(text, "--env"));
    overrides.environment_variables.push_back(std::move(variable));
  }
  overrides.conda_packages = flags.conda_packages;
  overrides.pip_packages = flags.pip_packages;
  return overrides;
}

Status RunSubmit(const SubmitFlags& flags, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(const spec::SpecOverrides overrides, ToOverrides(flags, context));
  std::optional<std::filesystem::path> job_file;
  if (!flags.job_file.empty()) job_file = flags.job_file;
  KILN_ASSIGN_OR_RETURN(const spec::LoadedJob job, spec::LoadJobSpec(job_file, overrides));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<client::Workspace> workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(const client::SubmitResult submitted, client::Submit(*workspace, job));

  std::cout << submitted.run.id << std::endl;
  PrintNote(fmt::format(
      "Submitted run {} to '{}' (snapshot {}: {} files, {}, {} new)", submitted.run.id,
      submitted.run.compute_target, submitted.snapshot.id.substr(0, 12),
      HumanCount(submitted.snapshot.file_count), HumanBytes(submitted.snapshot.total_bytes),
      HumanBytes(submitted.snapshot.bytes_stored)));
  if (!flags.wait && !flags.stream) return Status::Ok();

  client::WaitOptions options;
  if (flags.stream) {
    options.on_log_line = [](const client::RunLogLine& line) {
      std::cout << line.display << "\n" << std::flush;
    };
  }
  KILN_ASSIGN_OR_RETURN(const store::Run run,
                        client::WaitForRun(*workspace, submitted.run.id, options));
  const std::int64_t took = run.ended_at.value_or(run.created_at) - run.created_at;
  if (run.status == store::RunStatus::kCompleted) {
    PrintNote(fmt::format("Run {} Completed in {}", run.id, FormatDuration(took)));
  } else if (run.status == store::RunStatus::kCanceled) {
    PrintNote(fmt::format("Run {} was Canceled after {}", run.id, FormatDuration(took)));
  } else {
    PrintNote(fmt::format("Run {} Failed after {}: {}", run.id, FormatDuration(took),
                          run.failure_reason));
    if (!flags.stream) {
      for (const std::string& line : run.failure_log_tail) PrintNote("  " + line);
    }
    PrintNote(fmt::format("See 'kiln logs {}' and 'kiln show {}'.", run.id, run.id));
  }
  context.exit_code = ExitCodeFor(run.status);
  return Status::Ok();
}

}  // namespace

void AddSubmitCommand(CLI::App& app, CliContext& context) {
  auto flags = std::make_shared<SubmitFlags>();
  CLI::App* submit = app.add_subcommand(
      "submit",
      "Submit a training job from a job file and/or flags; prints the run id.\n"
      "Flags override the file's fields. Arguments after '--' become script_params.");
  submit->add_option("job_file", flags->job_file, "The job file (YAML); see docs/job-spec.md");
  for (const char* field : kScalarFields) {
    const std::string flag = spec::FlagForField(field);
    submit->add_option_function<std::string>(
        flag, [flags, field](const std::string& value) { flags->scalars[field] = value; },
        fmt::format("Set the job's {} field", field));
  }
  submit->add_flag_function(
      "--use-gpu,!--no-use-gpu",
      [flags](std::int64_t count) { flags->scalars["use_gpu"] = count > 0 ? "true" : "false"; },
      "Set use_gpu (one GPU per rank)");
  submit->add_option("--script-param", flags->script_params,
                     "A script argument, NAME=VALUE or a bare NAME (repeatable); NAME keeps its "
                     "dashes: --script-param --epochs=2");
  submit->add_option("--tag", flags->tags, "A tag KEY=VALUE (repeatable)");
  submit->add_option("--env", flags->env, "An environment variable NAME=VALUE (repeatable)");
  submit->add_option("--conda-package", flags->conda_packages,
                     "Add to conda_packages (repeatable)");
  submit->add_option("--pip-package", flags->pip_packages, "Add to pip_packages (repeatable)");
  submit->add_flag("--wait", flags->wait,
                   "Wait for the run to end; exit with its result (docs/cli.md, exit codes)");
  submit->add_flag("--stream", flags->stream,
                   "Follow the run's log until it ends, then exit with its result");
  submit->callback([flags, &context] { context.Finish(RunSubmit(*flags, context)); });
}

}  // namespace kiln::cli
