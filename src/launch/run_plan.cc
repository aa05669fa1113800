#include "launch/run_plan.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>

#include "common/files.h"
#include "common/random.h"
#include "common/redact.h"
#include "common/unique_fd.h"

namespace kiln::launch {

using nlohmann::json;

json PlanToJson(const RunPlan& plan) {
  json data = json::array();
  for (const data::DataBinding& binding : plan.data) {
    data.push_back({{"param", binding.param},
                    {"datastore", binding.datastore},
                    {"sub_path", binding.sub_path},
                    {"mode", std::string(data::DataModeName(binding.mode))},
                    {"source", binding.source.string()},
                    {"target", binding.target.string()}});
  }
  json environment = json::array();
  for (const auto& [name, value] : plan.environment) {
    environment.push_back({{"name", name}, {"value", value}});
  }
  return {
      {"version", kPlanVersion},
      {"run_id", plan.run_id},
      {"experiment", plan.experiment},
      {"store", RedactUrlCredentials(plan.store_url)},
      {"store_ca_file", plan.store_ca_file},
      {"snapshot",
       {{"store", plan.snapshot_store.string()},
        {"id", plan.snapshot_id},
        {"staged", plan.source_staged}}},
      {"command", plan.command},
      {"environment", environment},
      {"data", data},
      {"ranks",
       {{"node_count", plan.ranks.node_count},
        {"process_count_per_node", plan.ranks.process_count_per_node},
        {"distributed_backend", std::string(spec::BackendName(plan.ranks.backend))}}},
      {"max_run_duration_seconds",
       plan.max_run_duration_seconds ? json(*plan.max_run_duration_seconds) : json(nullptr)},
      {"use_gpu", plan.use_gpu},
      {"cluster", plan.cluster ? json{{"scheduler", plan.cluster->scheduler},
                                      {"network", plan.cluster->network},
                                      {"slurm_conf", plan.cluster->slurm_conf}}
                               : json(nullptr)},
      {"python_environment",
       plan.python_environment
           ? json{{"definition", env::EnvironmentToJson(plan.python_environment->definition)},
                  {"hash", plan.python_environment->hash},
                  {"cache", plan.python_environment->cache_root.string()}}
           : json(nullptr)},
      {"slots", plan.slots ? json{{"queue", plan.slots->queue_dir.string()},
                                  {"kind", SlotKindName(plan.slots->kind)},
                                  {"need", plan.slots->need},
                                  {"group", plan.slots->group},
                                  {"group_limit", plan.slots->group_limit}}
                           : json(nullptr)},
      {"warm_start", plan.warm_start ? json{{"preload", plan.warm_start->preload}} : json(nullptr)},
      {"spec", plan.spec},
  };
}

Result<RunPlan> PlanFromJson(const json& in) {
  try {
    const int version = in.at("version").get<int>();
    if (version != kPlanVersion) {
      return DataLossError(
          fmt::format("plan.json has version {}, this Kiln reads {}", version, kPlanVersion));
    }
    RunPlan plan;
    plan.run_id = in.at("run_id").get<std::string>();
    plan.experiment = in.at("experiment").get<std::string>();
    plan.store_url = in.at("store").get<std::string>();
    plan.store_ca_file = in.value("store_ca_file", "");
    plan.snapshot_store = in.at("snapshot").at("store").get<std::string>();
    plan.snapshot_id = in.at("snapshot").at("id").get<std::string>();
    plan.source_staged = in.at("snapshot").value("staged", false);
    plan.command = in.at("command").get<std::vector<std::string>>();
    for (const json& variable : in.at("environment")) {
      plan.environment.emplace_back(variable.at("name").get<std::string>(),
                                    variable.at("value").get<std::string>());
    }
    for (const json& item : in.at("data")) {
      data::DataBinding binding;
      binding.param = item.at("param").get<std::string>();
      binding.datastore = item.at("datastore").get<std::string>();
      binding.sub_path = item.at("sub_path").get<std::string>();
      binding.mode = item.at("mode").get<std::string>() == "download" ? data::DataMode::kDownload
                                                                      : data::DataMode::kMount;
      binding.source = item.at("source").get<std::string>();
      binding.target = item.at("target").get<std::string>();
      plan.data.push_back(std::move(binding));
    }
    const json& ranks = in.at("ranks");
    plan.ranks.node_count = ranks.at("node_count").get<int>();
    plan.ranks.process_count_per_node = ranks.at("process_count_per_node").get<int>();
    const auto backend = spec::ParseBackend(ranks.at("distributed_backend").get<std::string>());
    if (!backend) return DataLossError("plan.json has an unknown distributed_backend");
    plan.ranks.backend = *backend;
    if (!in.at("max_run_duration_seconds").is_null()) {
      plan.max_run_duration_seconds = in.at("max_run_duration_seconds").get<std::int64_t>();
    }
    plan.use_gpu = in.at("use_gpu").get<bool>();
    if (const auto cluster = in.find("cluster"); cluster != in.end() && !cluster->is_null()) {
      plan.cluster = ClusterPlan{cluster->at("scheduler").get<std::string>(),
                                 cluster->value("network", ""), cluster->value("slurm_conf", "")};
      if (plan.cluster->scheduler != "slurm") {
        return DataLossError(fmt::format("plan.json names an unknown cluster scheduler '{}'",
                                         plan.cluster->scheduler));
      }
    }
    if (const auto environment = in.find("python_environment");
        environment != in.end() && !environment->is_null()) {
      EnvironmentPlan e;
      KILN_ASSIGN_OR_RETURN(e.definition, env::EnvironmentFromJson(environment->at("definition")));
      e.hash = environment->at("hash").get<std::string>();
      e.cache_root = environment->at("cache").get<std::string>();
      plan.python_environment = std::move(e);
    }
    if (const auto slots = in.find("slots"); slots != in.end() && !slots->is_null()) {
      const std::optional<SlotKind> kind = ParseSlotKind(slots->at("kind").get<std::string>());
      if (!kind) return DataLossError("plan.json names an unknown kind of slot");
      plan.slots =
          SlotRequest{slots->at("queue").get<std::string>(), *kind, slots->at("need").get<int>(),
                      slots->value("group", ""), slots->value("group_limit", 0)};
    }
    if (const auto warm = in.find("warm_start"); warm != in.end() && !warm->is_null()) {
      plan.warm_start = WarmStartPlan{warm->at("preload").get<std::string>()};
    }
    plan.spec = in.at("spec");
    if (plan.command.empty()) return DataLossError("plan.json has an empty command");
    return plan;
  } catch (const json::exception& error) {
    return DataLossError(fmt::format("plan.json is unreadable: {}", error.what()));
  }
}

Status WritePlan(const RunDir& dir, const RunPlan& plan) {
  // Made 0600 from the first byte, then renamed into place.
  std::filesystem::path temp = dir.plan();
  temp += ".tmp." + RandomHex(12);
  {
    UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) return ErrnoError(fmt::format("cannot create {}", temp.string()), errno);
    if (Status written = WriteAll(fd.get(), PlanToJson(plan).dump(2) + "\n", temp); !written.ok()) {
      ::unlink(temp.c_str());
      return written;
    }
    if (::fsync(fd.get()) != 0) {
      const int saved = errno;
      ::unlink(temp.c_str());
      return ErrnoError(fmt::format("fsync {}", temp.string()), saved);
    }
  }
  if (::rename(temp.c_str(), dir.plan().c_str()) != 0) {
    const int saved = errno;
    ::unlink(temp.c_str());
    return ErrnoError(fmt::format("cannot write {}", dir.plan().string()), saved);
  }
  return Status::Ok();
}

Result<RunPlan> ReadPlan(const RunDir& dir) {
  KILN_ASSIGN_OR_RETURN(const std::string text, ReadFileToString(dir.plan()));
  const json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return DataLossError(fmt::format("{} is not valid JSON", dir.plan().string()));
  }
  return PlanFromJson(parsed);
}

std::vector<std::string> BuildCommand(const spec::JobSpec& spec,
                                      const std::vector<store::RunParam>& params,
                                      const std::string& interpreter,
                                      const std::filesystem::path& src_dir) {
  std::vector<std::string> command;
  if (spec.entry_is_python()) {
    command = {interpreter, spec.entry_script};
  } else {
    command = {(src_dir / spec.entry_script).string()};
  }
  for (const store::RunParam& param : params) {
    command.push_back(param.name);
    if (param.resolved) command.push_back(*param.resolved);
  }
  return command;
}

}  // namespace kiln::launch
