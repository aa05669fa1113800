#include "compute/targets.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "common/strings.h"
#include "compute/local/local_target.h"
#include "compute/slurm/slurm_target.h"

namespace kiln::compute {

namespace {

Result<SlurmConfig> ReadSlurmConfig(const store::ComputeTargetRecord& record) {
  const nlohmann::json config = nlohmann::json::parse(record.config_json, nullptr, false);
  Result<SlurmConfig> parsed = SlurmConfigFromJson(config);
  if (!parsed.ok()) {
    return parsed.status().WithPrefix(fmt::format("compute target '{}'", record.name));
  }
  return parsed;
}

}  // namespace

std::vector<std::string> TargetTypes() { return {std::string(SlurmTarget::kType)}; }

Result<std::unique_ptr<ComputeTarget>> OpenTarget(std::string_view name,
                                                  const TargetContext& context) {
  ProcessSpawner& spawner = context.spawner != nullptr ? *context.spawner : RealSpawner();
  if (name == LocalTarget::kName) {
    return std::unique_ptr<ComputeTarget>(
        std::make_unique<LocalTarget>(context.kiln_program, spawner, context.local_queue));
  }
  std::vector<std::string> names = {std::string(LocalTarget::kName)};
  if (context.store != nullptr) {
    Result<store::ComputeTargetRecord> record = context.store->GetComputeTarget(name);
    if (record.ok()) {
      if (record->type != SlurmTarget::kType) {
        return FailedPreconditionError(
            fmt::format("compute target '{}' has type '{}', which this Kiln does not know", name,
                        record->type));
      }
      KILN_ASSIGN_OR_RETURN(SlurmConfig config, ReadSlurmConfig(*record));
      return std::unique_ptr<ComputeTarget>(
          std::make_unique<SlurmTarget>(record->name, std::move(config), context.kiln_program));
    }
    if (record.status().code() != StatusCode::kNotFound) return record.status();
    KILN_ASSIGN_OR_RETURN(const std::vector<store::ComputeTargetRecord> registered,
                          context.store->ListComputeTargets());
    for (const store::ComputeTargetRecord& target : registered) names.push_back(target.name);
  }
  return NotFoundError(fmt::format(
      "unknown compute target '{}'; the targets are: {} (kiln compute add registers more)", name,
      JoinStrings(names, ", ")));
}

Status RegisterComputeTarget(store::Store& store, const store::ComputeTargetRecord& target,
                             const TargetContext& context) {
  static const std::regex kName("[A-Za-z][A-Za-z0-9_.-]{0,63}");
  if (!std::regex_match(target.name, kName)) {
    return InvalidArgumentError(fmt::format(
        "NAME: '{}' must start with a letter and hold only letters, digits, '_', '.' and '-' "
        "(at most 64)",
        target.name));
  }
  if (target.name == LocalTarget::kName) {
    return InvalidArgumentError("NAME: 'local' is the built-in target of this machine");
  }
  if (target.type != SlurmTarget::kType) {
    return InvalidArgumentError(fmt::format("--type: '{}' is not a target type; the types are: {}",
                                            target.type, JoinStrings(TargetTypes(), ", ")));
  }
  KILN_ASSIGN_OR_RETURN(const SlurmConfig config, ReadSlurmConfig(target));
  KILN_RETURN_IF_ERROR(CheckSlurmConfig(config));
  const SlurmTarget slurm(target.name, config, context.kiln_program);
  Result<int> nodes = slurm.PartitionNodes();
  if (!nodes.ok()) return nodes.status().WithPrefix("--partition");
  if (config.max_nodes > *nodes) {
    return InvalidArgumentError(
        fmt::format("--max-nodes: {} is more than partition '{}' has ({} nodes)", config.max_nodes,
                    config.partition, *nodes));
  }
  store::ComputeTargetRecord stored = target;
  stored.config_json = SlurmConfigToJson(config).dump();
  return store.AddComputeTarget(stored);
}

}  // namespace kiln::compute
