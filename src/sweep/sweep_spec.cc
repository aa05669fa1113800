#include "sweep/sweep_spec.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <regex>

#include "common/strings.h"
#include "spec/spec_json.h"
#include "sweep/termination_policy.h"

namespace kiln::sweep {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 11> kFields = {
    "version",   "experiment",        "display_name", "trial",       "search_space", "sampling",
    "objective", "early_termination", "limits",       "resume_from", "warm_start"};

Status UnknownFields(const json& object, std::span<const std::string_view> known,
                     std::string_view where) {
  for (const auto& [key, value] : object.items()) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::optional<std::string> suggestion = ClosestMatch(key, known);
    if (suggestion) {
      return InvalidArgumentError(
          fmt::format("{}: unknown field '{}'; did you mean '{}'?", where, key, *suggestion));
    }
    return InvalidArgumentError(fmt::format("{}: unknown field '{}'; the fields are: {}", where,
                                            key, fmt::join(known, ", ")));
  }
  return Status::Ok();
}

std::vector<std::string> SplitPreload(const std::string& preload) {
  std::vector<std::string> modules;
  std::size_t start = 0;
  while (start <= preload.size()) {
    const std::size_t comma = std::min(preload.find(',', start), preload.size());
    if (comma > start) modules.push_back(preload.substr(start, comma - start));
    start = comma + 1;
  }
  return modules;
}

// warm_start: true (the default), false, or {preload: auto | [module, ...]}.
Result<std::optional<launch::WarmStartPlan>> ReadWarmStart(const json& root,
                                                           std::string_view label) {
  const json value = root.value("warm_start", json(true));
  if (value.is_boolean()) {
    if (!value.get<bool>()) return std::optional<launch::WarmStartPlan>();
    return std::optional<launch::WarmStartPlan>(launch::WarmStartPlan{});
  }
  const std::string where = fmt::format("{}: warm_start", label);
  if (!value.is_object()) {
    return InvalidArgumentError(
        fmt::format("{}: must be true, false or {{preload: auto | [module, ...]}}, got {}", where,
                    value.dump()));
  }
  constexpr std::array<std::string_view, 1> kWarmFields = {"preload"};
  KILN_RETURN_IF_ERROR(UnknownFields(value, kWarmFields, where));
  const json preload = value.value("preload", json("auto"));
  if (preload.is_string() && preload.get<std::string>() == "auto") {
    return std::optional<launch::WarmStartPlan>(launch::WarmStartPlan{});
  }
  static const std::regex kModule("[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)*");
  std::vector<std::string> modules;
  if (preload.is_string()) {
    modules.push_back(preload.get<std::string>());
  } else if (preload.is_array()) {
    for (const json& name : preload) {
      modules.push_back(name.is_string() ? name.get<std::string>() : name.dump());
    }
  } else {
    return InvalidArgumentError(fmt::format(
        "{}.preload: must be auto or a list of module names, got {}", where, preload.dump()));
  }
  for (const std::string& module : modules) {
    if (!std::regex_match(module, kModule)) {
      return InvalidArgumentError(fmt::format(
          "{}.preload: '{}' is not a module name (like torch or torch.nn)", where, module));
    }
  }
  return std::optional<launch::WarmStartPlan>(
      launch::WarmStartPlan{fmt::format("{}", fmt::join(modules, ","))});
}

Result<std::string> Text(const json& object, std::string_view field, std::string_view where,
                         bool required) {
  auto it = object.find(std::string(field));
  if (it == object.end() || it->is_null()) {
    if (required) return InvalidArgumentError(fmt::format("{}.{}: is required", where, field));
    return std::string();
  }
  if (!it->is_string() || it->get<std::string>().empty()) {
    return InvalidArgumentError(
        fmt::format("{}.{}: must be non-empty text, got {}", where, field, it->dump()));
  }
  return it->get<std::string>();
}

// A whole number in [minimum, maximum]; nullopt when absent.
Result<std::optional<std::int64_t>> Whole(const json& object, std::string_view field,
                                          std::string_view where, std::int64_t minimum,
                                          std::int64_t maximum) {
  auto it = object.find(std::string(field));
  if (it == object.end() || it->is_null()) return std::optional<std::int64_t>();
  bool whole = it->is_number_integer() ||
               (it->is_number_float() && std::floor(it->get<double>()) == it->get<double>());
  if (!it->is_number() || !whole || it->get<double>() < static_cast<double>(minimum) ||
      it->get<double>() > static_cast<double>(maximum)) {
    return InvalidArgumentError(fmt::format("{}.{}: must be a whole number from {} to {}, got {}",
                                            where, field, minimum, maximum, it->dump()));
  }
  return std::optional<std::int64_t>(static_cast<std::int64_t>(it->get<double>()));
}

Result<json> Object(const json& root, std::string_view field, std::string_view label,
                    bool required) {
  auto it = root.find(std::string(field));
  if (it == root.end() || it->is_null()) {
    if (required) return InvalidArgumentError(fmt::format("{}: {}: is required", label, field));
    return json::object();
  }
  if (!it->is_object()) {
    return InvalidArgumentError(
        fmt::format("{}: {}: must be a mapping, got {}", label, field, it->dump()));
  }
  return *it;
}

Result<SamplingSettings> ReadSampling(const json& object, std::string_view where,
                                      bool& seed_given) {
  static constexpr std::array<std::string_view, 3> kSamplingFields = {"type", "seed",
                                                                      "startup_trials"};
  KILN_RETURN_IF_ERROR(UnknownFields(object, kSamplingFields, where));
  SamplingSettings settings;
  KILN_ASSIGN_OR_RETURN(std::string type, Text(object, "type", where, false));
  if (type == "random" || type.empty()) {
    settings.kind = SamplingKind::kRandom;
  } else if (type == "grid") {
    settings.kind = SamplingKind::kGrid;
  } else if (type == "bayesian") {
    settings.kind = SamplingKind::kBayesian;
  } else {
    return InvalidArgumentError(
        fmt::format("{}.type: unknown sampling '{}'; use random, grid or bayesian", where, type));
  }
  KILN_ASSIGN_OR_RETURN(std::optional<std::int64_t> seed,
                        Whole(object, "seed", where, 0, (std::int64_t{1} << 53)));
  seed_given = seed.has_value();
  settings.seed = static_cast<std::uint64_t>(seed.value_or(0));
  KILN_ASSIGN_OR_RETURN(std::optional<std::int64_t> startup,
                        Whole(object, "startup_trials", where, 1, kMaxTrials));
  if (startup && settings.kind != SamplingKind::kBayesian) {
    return InvalidArgumentError(
        fmt::format("{}.startup_trials: only bayesian sampling takes it", where));
  }
  if (startup) settings.startup_trials = static_cast<int>(*startup);
  return settings;
}

Result<Objective> ReadObjective(const json& object, std::string_view where) {
  static constexpr std::array<std::string_view, 2> kObjectiveFields = {"primary_metric", "goal"};
  KILN_RETURN_IF_ERROR(UnknownFields(object, kObjectiveFields, where));
  Objective objective;
  KILN_ASSIGN_OR_RETURN(objective.primary_metric, Text(object, "primary_metric", where, true));
  KILN_ASSIGN_OR_RETURN(std::string goal, Text(object, "goal", where, true));
  std::string lower = goal;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "maximize") {
    objective.goal = Goal::kMaximize;
  } else if (lower == "minimize") {
    objective.goal = Goal::kMinimize;
  } else {
    return InvalidArgumentError(
        fmt::format("{}.goal: must be maximize or minimize, got '{}'", where, goal));
  }
  return objective;
}

Result<SweepLimits> ReadLimits(const json& object, std::string_view where, const SearchSpace& space,
                               SamplingKind kind) {
  static constexpr std::array<std::string_view, 3> kLimitFields = {
      "max_total_trials", "max_concurrent_trials", "timeout_minutes"};
  KILN_RETURN_IF_ERROR(UnknownFields(object, kLimitFields, where));
  SweepLimits limits;
  KILN_ASSIGN_OR_RETURN(std::optional<std::int64_t> total,
                        Whole(object, "max_total_trials", where, 1, kMaxTrials));
  if (!total) {
    std::optional<std::uint64_t> grid = space.Cardinality();
    if (kind != SamplingKind::kGrid || !grid || *grid > static_cast<std::uint64_t>(kMaxTrials)) {
      return InvalidArgumentError(fmt::format(
          "{}.max_total_trials: is required (a grid of at most {} points defaults to its size)",
          where, kMaxTrials));
    }
    total = static_cast<std::int64_t>(*grid);
  }
  limits.max_total_trials = *total;
  KILN_ASSIGN_OR_RETURN(std::optional<std::int64_t> concurrent,
                        Whole(object, "max_concurrent_trials", where, 1, kMaxTrials));
  limits.max_concurrent_trials = std::min(concurrent.value_or(*total), *total);
  KILN_ASSIGN_OR_RETURN(std::optional<std::int64_t> timeout,
                        Whole(object, "timeout_minutes", where, 1, 10 * 366 * 24 * 60));
  limits.timeout_minutes = timeout.value_or(kDefaultTimeoutMinutes);
  return limits;
}

}  // namespace

Result<SweepSpec> SweepFromJson(const json& root, std::string_view label) {
  if (!root.is_object()) {
    return InvalidArgumentError(fmt::format("{}: must be a mapping of the sweep's fields", label));
  }
  KILN_RETURN_IF_ERROR(UnknownFields(root, kFields, label));
  SweepSpec sweep;
  if (root.contains("version") && root["version"] != json(1)) {
    return InvalidArgumentError(
        fmt::format("{}: version: must be 1, got {}", label, root["version"].dump()));
  }
  KILN_ASSIGN_OR_RETURN(json trial, Object(root, "trial", label, true));
  Result<spec::JobSpec> job = spec::SpecFromJson(trial);
  if (!job.ok()) {
    return InvalidArgumentError(fmt::format("{}: trial: {}", label, job.status().message()));
  }
  sweep.trial = std::move(job).value();
  KILN_ASSIGN_OR_RETURN(sweep.experiment, Text(root, "experiment", label, false));
  if (sweep.experiment.empty()) sweep.experiment = sweep.trial.experiment;
  KILN_ASSIGN_OR_RETURN(sweep.display_name, Text(root, "display_name", label, false));

  std::string space_where = fmt::format("{}: search_space", label);
  auto space_it = root.find("search_space");
  if (space_it == root.end()) {
    return InvalidArgumentError(fmt::format("{}: is required", space_where));
  }
  KILN_ASSIGN_OR_RETURN(sweep.search_space, SearchSpace::Parse(*space_it, space_where));

  KILN_ASSIGN_OR_RETURN(json sampling, Object(root, "sampling", label, false));
  KILN_ASSIGN_OR_RETURN(
      sweep.sampling, ReadSampling(sampling, fmt::format("{}: sampling", label), sweep.seed_given));
  KILN_RETURN_IF_ERROR(CheckSpaceFor(sweep.search_space, sweep.sampling.kind, space_where));

  KILN_ASSIGN_OR_RETURN(json objective, Object(root, "objective", label, true));
  KILN_ASSIGN_OR_RETURN(sweep.objective,
                        ReadObjective(objective, fmt::format("{}: objective", label)));
  KILN_ASSIGN_OR_RETURN(json limits, Object(root, "limits", label, false));
  KILN_ASSIGN_OR_RETURN(sweep.limits, ReadLimits(limits, fmt::format("{}: limits", label),
                                                 sweep.search_space, sweep.sampling.kind));

  json policy = root.value("early_termination", json(nullptr));
  if (policy.is_null()) policy = {{"type", "none"}};
  KILN_ASSIGN_OR_RETURN(
      std::unique_ptr<TerminationPolicy> parsed,
      TerminationPolicy::Parse(policy, fmt::format("{}: early_termination", label)));
  sweep.early_termination = parsed->ToJson();

  json resume = root.value("resume_from", json::array());
  if (!resume.is_array() || resume.size() > kMaxResumeFrom) {
    return InvalidArgumentError(
        fmt::format("{}: resume_from: must be a list of at most {} sweep ids, got {}", label,
                    kMaxResumeFrom, resume.dump()));
  }
  for (std::size_t i = 0; i < resume.size(); ++i) {
    if (!resume[i].is_string() || resume[i].get<std::string>().empty()) {
      return InvalidArgumentError(fmt::format("{}: resume_from[{}]: must be a sweep id, got {}",
                                              label, i, resume[i].dump()));
    }
    sweep.resume_from.push_back(resume[i].get<std::string>());
  }
  KILN_ASSIGN_OR_RETURN(sweep.warm_start, ReadWarmStart(root, label));
  return sweep;
}

json SweepToJson(const SweepSpec& sweep) {
  json sampling = {{"type", SamplingKindName(sweep.sampling.kind)}, {"seed", sweep.sampling.seed}};
  if (sweep.sampling.kind == SamplingKind::kBayesian) {
    sampling["startup_trials"] = sweep.sampling.startup_trials;
  }
  json out = {
      {"version", 1},
      {"experiment", sweep.experiment},
      {"trial", spec::SpecToJson(sweep.trial)},
      {"search_space", sweep.search_space.ToJson()},
      {"sampling", sampling},
      {"objective",
       {{"primary_metric", sweep.objective.primary_metric},
        {"goal", GoalName(sweep.objective.goal)}}},
      {"limits",
       {{"max_total_trials", sweep.limits.max_total_trials},
        {"max_concurrent_trials", sweep.limits.max_concurrent_trials},
        {"timeout_minutes", sweep.limits.timeout_minutes}}},
      {"early_termination", sweep.early_termination},
      {"resume_from", sweep.resume_from},
      {"warm_start", sweep.warm_start
                         ? json{{"preload", sweep.warm_start->preload == "auto"
                                                ? json("auto")
                                                : json(SplitPreload(sweep.warm_start->preload))}}
                         : json(false)}};
  if (!sweep.display_name.empty()) out["display_name"] = sweep.display_name;
  return out;
}

}  // namespace kiln::sweep
