// kiln compute add | list | show | set | remove

#include <fmt/format.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/output.h"
#include "client/local_target_view.h"
#include "common/strings.h"
#include "compute/slurm/slurm_config.h"
#include "launch/slot_queue.h"
#include "store/record_json.h"

namespace kiln::cli {
namespace {

struct AddFlags {
  std::string name;
  std::string type;
  std::string partition;
  int max_nodes = 0;
  std::string runs_root;
  std::string slurm_conf;
  std::string network;
};

Status RunAdd(const AddFlags& flags, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  compute::SlurmConfig config;
  config.partition = flags.partition;
  config.max_nodes = flags.max_nodes;
  config.runs_root = flags.runs_root;
  config.slurm_conf = flags.slurm_conf;
  config.network = flags.network;
  store::ComputeTargetRecord target{flags.name, flags.type,
                                    compute::SlurmConfigToJson(config).dump(), 0};
  KILN_RETURN_IF_ERROR(workspace->RegisterTarget(target));
  std::cout << flags.name << "\n";
  return Status::Ok();
}

// "partition=debug max_nodes=2 ..." for a table cell.
std::string ConfigSummary(const store::ComputeTargetRecord& target) {
  const nlohmann::json config = nlohmann::json::parse(target.config_json, nullptr, false);
  std::vector<std::string> parts;
  if (config.is_object()) {
    for (const auto& [key, value] : config.items()) {
      if (value.is_string() && value.get<std::string>().empty()) continue;
      parts.push_back(
          fmt::format("{}={}", key, value.is_string() ? value.get<std::string>() : value.dump()));
    }
  }
  return JoinStrings(parts, " ");
}

// The local target's slots live in the Kiln home of the machine that runs its launchers.
Status RefuseLocalThroughServer(const client::Workspace& workspace) {
  if (workspace.server() == nullptr) return Status::Ok();
  return FailedPreconditionError(
      "compute target 'local' of a Kiln server is the server's machine; run this there, with "
      "the server's KILN_HOME and without --server");
}

// "2 cores (this machine's), 1 free; 0 GPUs" for a table cell or `show`.
std::string LocalSlotsSummary(const launch::SlotQueue& queue) {
  const Result<launch::SlotSettings> settings = queue.ReadSettings();
  if (!settings.ok()) return settings.status().message();
  std::vector<std::string> parts;
  for (launch::SlotKind kind : {launch::SlotKind::kCores, launch::SlotKind::kGpus}) {
    const Result<launch::QueueView> view = queue.View(kind);
    if (!view.ok()) return view.status().message();
    const bool set =
        kind == launch::SlotKind::kCores ? settings->cores.has_value() : settings->gpus.has_value();
    std::string part = fmt::format("{} ({})", launch::CountOf(view->capacity, kind),
                                   set ? "set" : "this machine's");
    if (view->capacity > 0) {
      part += fmt::format(", {} free", std::max(0, view->capacity - view->used));
    }
    if (!view->waiting.empty()) part += fmt::format(", {} waiting", view->waiting.size());
    parts.push_back(std::move(part));
  }
  return JoinStrings(parts, "; ");
}

Status RunShowLocal(client::Workspace& workspace, bool json) {
  KILN_RETURN_IF_ERROR(RefuseLocalThroughServer(workspace));
  const launch::SlotQueue queue(workspace.local_queue());
  KILN_ASSIGN_OR_RETURN(const nlohmann::json out, client::LocalTargetView(queue));
  if (json) {
    PrintJson(out);
    return Status::Ok();
  }
  std::cout << "name:       local\ntype:       local (this machine, built in)\n";
  std::cout << fmt::format("slots:      {}\n", LocalSlotsSummary(queue));
  for (launch::SlotKind kind : {launch::SlotKind::kCores, launch::SlotKind::kGpus}) {
    const nlohmann::json& slots = out[std::string(launch::SlotKindName(kind))];
    for (const auto& entry : slots["holding"]) {
      std::cout << fmt::format("  holding  {}  {}\n", entry["run_id"].get<std::string>(),
                               launch::CountOf(entry["slots"].get<int>(), kind));
    }
    std::size_t place = 1;
    for (const auto& entry : slots["waiting"]) {
      std::cout << fmt::format("  waiting  {}  {}, {} in line\n",
                               entry["run_id"].get<std::string>(),
                               launch::CountOf(entry["slots"].get<int>(), kind), Ordinal(place++));
    }
  }
  return Status::Ok();
}

// "--cores 4" or "--cores auto"; an empty flag keeps what is set.
Result<std::optional<int>> SlotFlag(const std::string& flag, const std::string& value,
                                    std::optional<int> current) {
  if (value.empty()) return current;
  if (value == "auto") return std::optional<int>();
  const std::optional<std::int64_t> number = ParseInt64(value);
  if (!number || *number < 1 || *number > launch::kMaxSlots) {
    return InvalidArgumentError(
        fmt::format("--{}: must be a whole number from 1 to {}, or auto; "
                    "got '{}'",
                    flag, launch::kMaxSlots, value));
  }
  return std::optional<int>(static_cast<int>(*number));
}

struct SetFlags {
  std::string name;
  std::string cores;
  std::string gpus;
};

Status RunSet(const SetFlags& flags, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  if (flags.name != "local") {
    return InvalidArgumentError(fmt::format(
        "NAME: only the built-in target 'local' has settings to change here, not '{}' (remove "
        "and add a registered target again to change it)",
        flags.name));
  }
  KILN_RETURN_IF_ERROR(RefuseLocalThroughServer(*workspace));
  if (flags.cores.empty() && flags.gpus.empty()) {
    return InvalidArgumentError("give --cores, --gpus or both (a number, or auto)");
  }
  const launch::SlotQueue queue(workspace->local_queue());
  KILN_ASSIGN_OR_RETURN(launch::SlotSettings settings, queue.ReadSettings());
  KILN_ASSIGN_OR_RETURN(settings.cores, SlotFlag("cores", flags.cores, settings.cores));
  KILN_ASSIGN_OR_RETURN(settings.gpus, SlotFlag("gpus", flags.gpus, settings.gpus));
  KILN_RETURN_IF_ERROR(queue.WriteSettings(settings));
  std::cout << "local: " << LocalSlotsSummary(queue) << "\n";
  return Status::Ok();
}

Status RunList(bool json, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(const std::vector<store::ComputeTargetRecord> targets,
                        workspace->store().ListComputeTargets());
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const store::ComputeTargetRecord& target : targets) out.push_back(store::ToJson(target));
    PrintJson(out);
    return Status::Ok();
  }
  Table table({"NAME", "TYPE", "SETTINGS", "ADDED (UTC)"});
  const std::string local = workspace->server() == nullptr
                                ? LocalSlotsSummary(launch::SlotQueue(workspace->local_queue()))
                                : "the server's machine";
  table.AddRow({"local", "local", "this machine (built in): " + local, "-"});
  for (const store::ComputeTargetRecord& target : targets) {
    table.AddRow(
        {target.name, target.type, ConfigSummary(target), FormatTimestampShort(target.created_at)});
  }
  std::cout << table.Render();
  return Status::Ok();
}

Status RunShow(const std::string& name, bool json, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  if (name == "local") return RunShowLocal(*workspace, json);
  KILN_ASSIGN_OR_RETURN(const store::ComputeTargetRecord target,
                        workspace->store().GetComputeTarget(name));
  const nlohmann::json record = store::ToJson(target);
  if (json) {
    PrintJson(record);
    return Status::Ok();
  }
  std::cout << fmt::format("name:       {}\ntype:       {}\nadded:      {}\n", target.name,
                           target.type, FormatTimestampShort(target.created_at));
  for (const auto& [key, value] : record["config"].items()) {
    const std::string text = value.is_string() ? value.get<std::string>() : value.dump();
    std::cout << fmt::format("{:<11} {}\n", key + ":", text.empty() ? "-" : text);
  }
  return Status::Ok();
}

Status RunRemove(const std::string& name, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  return workspace->RemoveTarget(name);
}

}  // namespace

void AddComputeCommands(CLI::App& app, CliContext& context) {
  CLI::App* group = app.add_subcommand(
      "compute", "Register the compute targets (clusters) that jobs name in compute_target");
  group->require_subcommand(1);

  auto flags = std::make_shared<AddFlags>();
  CLI::App* add = group->add_subcommand("add", "Register a compute target");
  add->add_option("name", flags->name, "Target name, as jobs give it in compute_target")
      ->required();
  add->add_option("--type", flags->type, "The kind of target: slurm")->required();
  add->add_option("--partition", flags->partition, "The Slurm partition runs are queued in")
      ->required();
  add->add_option("--max-nodes", flags->max_nodes, "The most nodes one run may ask for")
      ->required();
  add->add_option("--runs-root", flags->runs_root,
                  "Where run directories go: a folder every node sees at the same path")
      ->required();
  add->add_option("--slurm-conf", flags->slurm_conf,
                  "slurm.conf of the cluster (SLURM_CONF for Slurm's commands)");
  add->add_option("--network", flags->network,
                  "The subnet (10.1.0.0/16) or interface (ib0) ranks talk over");
  add->callback([flags, &context] { context.Finish(RunAdd(*flags, context)); });

  auto list_json = std::make_shared<bool>(false);
  CLI::App* list = group->add_subcommand("list", "List compute targets");
  list->add_flag("--json", *list_json, "Print JSON (docs/cli.md)");
  list->callback([list_json, &context] { context.Finish(RunList(*list_json, context)); });

  auto show_name = std::make_shared<std::string>();
  auto show_json = std::make_shared<bool>(false);
  CLI::App* show = group->add_subcommand("show", "Show one compute target's settings");
  show->add_option("name", *show_name, "Target name")->required();
  show->add_flag("--json", *show_json, "Print JSON (docs/cli.md)");
  show->callback([show_name, show_json, &context] {
    context.Finish(RunShow(*show_name, *show_json, context));
  });

  auto set_flags = std::make_shared<SetFlags>();
  CLI::App* set = group->add_subcommand(
      "set", "Change the built-in local target's slots: how many cores and GPUs runs share");
  set->add_option("name", set_flags->name, "Target name: local")->required();
  set->add_option("--cores", set_flags->cores,
                  "Cores runs without use_gpu share, one per rank (times slots_per_rank); auto: "
                  "this machine's");
  set->add_option("--gpus", set_flags->gpus,
                  "GPUs use_gpu runs share, one per rank (times slots_per_rank); auto: this "
                  "machine's");
  set->callback([set_flags, &context] { context.Finish(RunSet(*set_flags, context)); });

  auto remove_name = std::make_shared<std::string>();
  CLI::App* remove = group->add_subcommand(
      "remove", "Forget a compute target (refused while runs on it have not ended)");
  remove->add_option("name", *remove_name, "Target name")->required();
  remove->callback([remove_name, &context] { context.Finish(RunRemove(*remove_name, context)); });
}

}  // namespace kiln::cli
