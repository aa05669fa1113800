// kiln model deploy | undeploy: a model version's scoring-script deployment
// (client/model_deployment.h; docs/serving.md, "Scoring scripts").

#include <fmt/format.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/output.h"
#include "client/model_deployment.h"
#include "store/record_json.h"

namespace kiln::cli {
namespace {

struct DeployFlags {
  client::DeploymentRequest request;
  std::string source_directory;
  bool json = false;
};

Status RunDeploy(const DeployFlags& flags, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  client::DeploymentRequest request = flags.request;
  request.source_directory = flags.source_directory;
  KILN_ASSIGN_OR_RETURN(const store::ModelVersion model, client::DeployModel(*workspace, request));
  if (flags.json) {
    PrintJson(store::ToJson(model));
    return Status::Ok();
  }
  const store::ModelDeployment& deployment = *model.deployment;
  std::cout << fmt::format(
      "{}:{} deployed: {} from snapshot {}, environment {}; serve it with kiln serve {}:{}\n",
      model.name, model.version, deployment.entry_script, deployment.snapshot_id.substr(0, 12),
      deployment.environment_name.empty() ? "none (the default python)"
                                          : deployment.environment_name,
      model.name, model.version);
  return Status::Ok();
}

Status RunUndeploy(const std::string& ref, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(const store::ModelVersion model, client::UndeployModel(*workspace, ref));
  std::cout << fmt::format("{}:{}: deployment removed\n", model.name, model.version);
  return Status::Ok();
}

}  // namespace

void AddModelDeployCommands(CLI::App& group, CliContext& context) {
  auto flags = std::make_shared<DeployFlags>();
  CLI::App* deploy = group.add_subcommand(
      "deploy",
      "Record how a model version is served with a scoring script (init(), run(raw_data)); "
      "kiln serve then serves it so");
  deploy->add_option("model", flags->request.model, "NAME[:VERSION] (the latest by default)")
      ->required();
  deploy
      ->add_option("--entry-script", flags->request.entry_script,
                   "The scoring script, relative to --source-directory (or a path)")
      ->required();
  deploy->add_option("--source-directory", flags->source_directory,
                     "The folder snapshotted with it (default: the script's own folder)");
  deploy->add_option("--environment", flags->request.environment,
                     "A registered environment for the workers (default: none, /usr/bin/python3)");
  deploy->add_flag("--json", flags->json, "Print the model version as JSON");
  deploy->callback([flags, &context] { context.Finish(RunDeploy(*flags, context)); });

  auto undeploy_ref = std::make_shared<std::string>();
  CLI::App* undeploy =
      group.add_subcommand("undeploy", "Forget a model version's scoring-script deployment");
  undeploy->add_option("model", *undeploy_ref, "NAME[:VERSION] (the latest by default)")
      ->required();
  undeploy->callback(
      [undeploy_ref, &context] { context.Finish(RunUndeploy(*undeploy_ref, context)); });
}

}  // namespace kiln::cli
