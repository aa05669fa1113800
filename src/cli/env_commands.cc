// kiln env register | list | show | prune

#include <fmt/format.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/duration_flag.h"
#include "cli/output.h"
#include "client/environment_registry.h"
#include "common/strings.h"
#include "env/environment_cache.h"
#include "spec/spec_loader.h"

namespace kiln::cli {
namespace {

std::string Packages(const env::EnvironmentSpec& spec) {
  std::vector<std::string> parts;
  if (!spec.pip_packages.empty()) parts.push_back("pip: " + JoinStrings(spec.pip_packages, " "));
  if (!spec.conda_packages.empty()) {
    parts.push_back("conda: " + JoinStrings(spec.conda_packages, " "));
  }
  return parts.empty() ? "-" : JoinStrings(parts, "; ");
}

std::string Age(std::filesystem::file_time_type at) {
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(
                           std::filesystem::file_time_type::clock::now() - at)
                           .count();
  if (seconds < 120) return fmt::format("{}s ago", seconds);
  if (seconds < 7200) return fmt::format("{}m ago", seconds / 60);
  if (seconds < 172800) return fmt::format("{}h ago", seconds / 3600);
  return fmt::format("{}d ago", seconds / 86400);
}

Status RunRegister(const std::string& file, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(const env::EnvironmentSpec spec, spec::LoadEnvironmentFile(file));
  KILN_ASSIGN_OR_RETURN(const client::RegisteredEnvironment registered,
                        client::EnvironmentRegistry(*workspace).Register(spec));
  std::cout << spec.name << ":" << registered.version << " " << Packages(spec) << "\n";
  return Status::Ok();
}

// A registered version as JSON: the definition with its version and time.
nlohmann::json RegisteredJson(const client::RegisteredEnvironment& registered) {
  nlohmann::json out = env::EnvironmentToJson(registered.spec);
  out["version"] = registered.version;
  out["registered_at"] = FormatTimestamp(registered.created_at);
  return out;
}

Status RunList(const std::string& name, bool json, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(const std::vector<client::RegisteredEnvironment> registered,
                        client::EnvironmentRegistry(*workspace).List(name));
  const env::EnvironmentCache cache(workspace->envs_root());
  KILN_ASSIGN_OR_RETURN(const std::vector<env::EnvironmentCache::Entry> built, cache.List());
  if (json) {
    nlohmann::json out = {{"registered", nlohmann::json::array()},
                          {"built", nlohmann::json::array()}};
    for (const client::RegisteredEnvironment& one : registered) {
      out["registered"].push_back(RegisteredJson(one));
    }
    for (const env::EnvironmentCache::Entry& entry : built) {
      out["built"].push_back({{"hash", entry.hash},
                              {"path", (cache.root() / entry.hash).string()},
                              {"definition", env::EnvironmentToJson(entry.spec)}});
    }
    PrintJson(out);
    return Status::Ok();
  }
  Table names({"NAME", "VERSION", "REGISTERED (UTC)", "PACKAGES"});
  for (const client::RegisteredEnvironment& one : registered) {
    names.AddRow({one.spec.name, std::to_string(one.version), FormatTimestampShort(one.created_at),
                  Packages(one.spec)});
  }
  std::cout << "Registered (kiln env register)\n" << names.Render();
  Table builds({"HASH", "NAME", "LAST USED", "PACKAGES"});
  for (const env::EnvironmentCache::Entry& entry : built) {
    builds.AddRow({entry.hash.substr(0, 12), entry.spec.name.empty() ? "-" : entry.spec.name,
                   Age(entry.last_used), Packages(entry.spec)});
  }
  std::cout << "\nBuilt (" << cache.root().string() << ")\n" << builds.Render();
  return Status::Ok();
}

Status RunShow(const std::string& which, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  Result<client::RegisteredEnvironment> named = client::EnvironmentRegistry(*workspace).Get(which);
  std::optional<env::EnvironmentSpec> spec;
  if (named.ok()) spec = named->spec;
  const env::EnvironmentCache cache(workspace->envs_root());
  KILN_ASSIGN_OR_RETURN(const std::vector<env::EnvironmentCache::Entry> built, cache.List());
  // A registered name: its most recent build (the registered definition may leave the
  // interpreter to each job). Else the start of a build's hash.
  std::string hash;
  for (const env::EnvironmentCache::Entry& entry : built) {
    if (spec ? entry.spec.name == spec->name : which.size() >= 6 && entry.hash.starts_with(which)) {
      hash = entry.hash;
      if (!spec) spec = entry.spec;
      break;
    }
  }
  if (!spec) {
    return NotFoundError(
        fmt::format("'{}' is neither a registered environment nor the start of a built one's hash; "
                    "`kiln env list` shows both",
                    which));
  }
  nlohmann::json out = named.ok() ? RegisteredJson(*named) : env::EnvironmentToJson(*spec);
  out["built"] = hash.empty()
                     ? nlohmann::json(nullptr)
                     : nlohmann::json{{"hash", hash}, {"path", (cache.root() / hash).string()}};
  PrintJson(out);
  return Status::Ok();
}

Status RunPrune(const std::string& unused_for, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(const std::chrono::seconds age, ParseDuration("--unused-for", unused_for));
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  env::EnvironmentCache cache(workspace->envs_root());
  KILN_ASSIGN_OR_RETURN(const std::vector<std::string> removed, cache.Prune(age));
  for (const std::string& hash : removed) std::cout << "removed " << hash << "\n";
  std::cout << removed.size() << " environment(s) removed\n";
  return Status::Ok();
}

}  // namespace

void AddEnvCommands(CLI::App& app, CliContext& context) {
  CLI::App* group = app.add_subcommand(
      "env", "Job environments: register named ones, list and show them, prune old builds");
  group->require_subcommand(1);

  auto file = std::make_shared<std::string>();
  CLI::App* add = group->add_subcommand(
      "register", "Register a named environment from a YAML file: its next version, printed");
  add->add_option("file", *file, "YAML with the fields of a job's environment (and a name)")
      ->required()
      ->check(CLI::ExistingFile);
  add->callback([file, &context] { context.Finish(RunRegister(*file, context)); });

  auto list_json = std::make_shared<bool>(false);
  auto list_name = std::make_shared<std::string>();
  CLI::App* list = group->add_subcommand(
      "list",
      "List registered environments (their latest versions, or every version of NAME) "
      "and built ones");
  list->add_option("name", *list_name, "Every version of this environment");
  list->add_flag("--json", *list_json, "Print JSON (docs/cli.md)");
  list->callback([list_json, list_name, &context] {
    context.Finish(RunList(*list_name, *list_json, context));
  });

  auto which = std::make_shared<std::string>();
  CLI::App* show = group->add_subcommand(
      "show", "Show an environment's definition and where it is built, as JSON");
  show->add_option("environment", *which,
                   "A registered NAME or NAME:VERSION, or the start of a build's hash")
      ->required();
  show->callback([which, &context] { context.Finish(RunShow(*which, context)); });

  auto unused_for = std::make_shared<std::string>("30d");
  CLI::App* prune = group->add_subcommand(
      "prune", "Remove built environments no run has used for a while (none a run holds)");
  prune->add_option("--unused-for", *unused_for, "How long unused: 30d (default), 12h, 90m, 45s");
  prune->callback([unused_for, &context] { context.Finish(RunPrune(*unused_for, context)); });
}

}  // namespace kiln::cli
