// kiln artifacts | download | snapshot

#include <fmt/format.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/output.h"
#include "client/artifacts.h"
#include "client/reconcile.h"
#include "client/run_id.h"
#include "common/strings.h"
#include "snapshot/snapshot_store.h"

namespace kiln::cli {
namespace {

struct ArtifactsFlags {
  std::string run;
  bool json = false;
};

Status RunArtifacts(const ArtifactsFlags& flags, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(const std::string id, client::ResolveRunId(workspace->store(), flags.run));
  KILN_ASSIGN_OR_RETURN(const store::Run run, client::ReadRun(*workspace, id));
  KILN_ASSIGN_OR_RETURN(const std::vector<client::Artifact> artifacts, client::ListArtifacts(run));
  if (flags.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const client::Artifact& artifact : artifacts) {
      out.push_back({{"name", artifact.name}, {"size", artifact.size}});
    }
    PrintJson(out);
    return Status::Ok();
  }
  Table table({"NAME", "SIZE"});
  for (const client::Artifact& artifact : artifacts) {
    table.AddRow({artifact.name, HumanBytes(artifact.size)});
  }
  std::cout << table.Render();
  return Status::Ok();
}

struct DownloadFlags {
  std::string run;
  std::string path = "outputs";
  std::string output;
};

Status RunDownload(const DownloadFlags& flags, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(const std::string id, client::ResolveRunId(workspace->store(), flags.run));
  KILN_ASSIGN_OR_RETURN(const store::Run run, client::ReadRun(*workspace, id));
  return client::DownloadArtifact(run, flags.path, flags.output);
}

struct SnapshotFlags {
  std::string run;
  std::string output;
};

Status RunSnapshot(const SnapshotFlags& flags, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(const std::string id, client::ResolveRunId(workspace->store(), flags.run));
  KILN_ASSIGN_OR_RETURN(const store::Run run, workspace->store().GetRun(id));
  const snapshot::SnapshotStore snapshots(workspace->snapshots_root());
  KILN_RETURN_IF_ERROR(snapshots.Materialize(run.snapshot_id, flags.output));
  PrintNote(fmt::format("Restored snapshot {} of run {} into {}", run.snapshot_id.substr(0, 12),
                        run.id, flags.output));
  return Status::Ok();
}

}  // namespace

void AddArtifactCommands(CLI::App& app, CliContext& context) {
  auto artifacts_flags = std::make_shared<ArtifactsFlags>();
  CLI::App* artifacts = app.add_subcommand("artifacts", "List a run's artifacts (its outputs/)");
  artifacts->add_option("run", artifacts_flags->run, "Run id (or its last part)")->required();
  artifacts->add_flag("--json", artifacts_flags->json, "Print JSON (docs/cli.md)");
  artifacts->callback(
      [artifacts_flags, &context] { context.Finish(RunArtifacts(*artifacts_flags, context)); });

  auto download_flags = std::make_shared<DownloadFlags>();
  CLI::App* download = app.add_subcommand(
      "download", "Copy a run's artifact (a file or folder under outputs/) into a folder");
  download->add_option("run", download_flags->run, "Run id (or its last part)")->required();
  download->add_option("path", download_flags->path,
                       "What to copy, e.g. outputs/model.pt (default: outputs)");
  download->add_option("-o,--output", download_flags->output, "Destination folder")->required();
  download->callback(
      [download_flags, &context] { context.Finish(RunDownload(*download_flags, context)); });

  auto snapshot_flags = std::make_shared<SnapshotFlags>();
  CLI::App* snapshot =
      app.add_subcommand("snapshot", "Restore the exact source a run ran from into a new folder");
  snapshot->add_option("run", snapshot_flags->run, "Run id (or its last part)")->required();
  snapshot->add_option("-o,--output", snapshot_flags->output, "A new or empty folder")->required();
  snapshot->callback(
      [snapshot_flags, &context] { context.Finish(RunSnapshot(*snapshot_flags, context)); });
}

}  // namespace kiln::cli
