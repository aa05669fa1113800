#include "compute/slurm/slurm_config.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>

#include "common/files.h"
#include "launch/node_address.h"

namespace kiln::compute {

using nlohmann::json;

json SlurmConfigToJson(const SlurmConfig& config) {
  return {{"partition", config.partition},
          {"max_nodes", config.max_nodes},
          {"runs_root", config.runs_root.string()},
          {"slurm_conf", config.slurm_conf},
          {"network", config.network}};
}

Result<SlurmConfig> SlurmConfigFromJson(const json& in) {
  if (!in.is_object()) return InvalidArgumentError("a slurm target's config must be an object");
  // Messages name the flag of `kiln compute add` that sets the field.
  const auto flag = [](std::string key) {
    std::replace(key.begin(), key.end(), '_', '-');
    return "--" + key;
  };
  const auto text = [&](const char* key, bool required) -> Result<std::string> {
    const auto found = in.find(key);
    if (found == in.end() || found->is_null()) {
      if (required) return InvalidArgumentError(fmt::format("{}: is required", flag(key)));
      return std::string();
    }
    if (!found->is_string()) {
      return InvalidArgumentError(fmt::format("{}: expected text", flag(key)));
    }
    return found->get<std::string>();
  };
  SlurmConfig config;
  KILN_ASSIGN_OR_RETURN(config.partition, text("partition", true));
  KILN_ASSIGN_OR_RETURN(const std::string runs_root, text("runs_root", true));
  config.runs_root = runs_root;
  KILN_ASSIGN_OR_RETURN(config.slurm_conf, text("slurm_conf", false));
  KILN_ASSIGN_OR_RETURN(config.network, text("network", false));
  const auto max_nodes = in.find("max_nodes");
  if (max_nodes == in.end() || !max_nodes->is_number_integer()) {
    return InvalidArgumentError("--max-nodes: is required, a whole number of nodes");
  }
  const std::int64_t nodes = max_nodes->get<std::int64_t>();
  if (nodes < 1 || nodes > 100000) {
    return InvalidArgumentError(
        fmt::format("--max-nodes: must be between 1 and 100000, got {}", nodes));
  }
  config.max_nodes = static_cast<int>(nodes);
  if (config.partition.empty()) return InvalidArgumentError("--partition: must not be empty");
  return config;
}

Status CheckSlurmConfig(const SlurmConfig& config) {
  if (!config.runs_root.is_absolute()) {
    return InvalidArgumentError(
        fmt::format("--runs-root: '{}' must be an absolute path on the cluster's shared filesystem",
                    config.runs_root.string()));
  }
  if (Status made = CreateDirectories(config.runs_root); !made.ok()) {
    return InvalidArgumentError(fmt::format("--runs-root: {}", made.message()));
  }
  if (!config.slurm_conf.empty()) {
    if (!std::filesystem::path(config.slurm_conf).is_absolute() ||
        ::access(config.slurm_conf.c_str(), R_OK) != 0) {
      return InvalidArgumentError(
          fmt::format("--slurm-conf: '{}' is not a readable file (give slurm.conf's absolute path)",
                      config.slurm_conf));
    }
  }
  if (!config.network.empty() && config.network.find('/') != std::string::npos &&
      !launch::IsSubnet(config.network)) {
    return InvalidArgumentError(fmt::format(
        "--network: '{}' is not an IPv4 subnet like 10.1.0.0/16 (or give an interface name)",
        config.network));
  }
  return Status::Ok();
}

}  // namespace kiln::compute
