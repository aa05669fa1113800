// kiln model register | list | show | download | remove | export

#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/output.h"
#include "client/artifacts.h"
#include "client/model_registry.h"
#include "client/run_id.h"
#include "common/strings.h"
#include "common/subprocess.h"
#include "common/time.h"
#include "common/tunables.h"
#include "store/record_json.h"

namespace kiln::cli {
namespace {

using nlohmann::json;

Result<std::vector<std::pair<std::string, std::string>>> ParseTags(
    const std::vector<std::string>& flags) {
  std::vector<std::pair<std::string, std::string>> tags;
  for (const std::string& flag : flags) {
    const size_t eq = flag.find('=');
    if (eq == std::string::npos || eq == 0) {
      return InvalidArgumentError(fmt::format("--tag '{}': give KEY=VALUE", flag));
    }
    tags.emplace_back(flag.substr(0, eq), flag.substr(eq + 1));
  }
  return tags;
}

std::string Accuracy(const store::ModelVersion& model) {
  const json metrics = json::parse(model.metrics_json, nullptr, false);
  for (const char* key : {"test_accuracy", "accuracy", "val_accuracy"}) {
    if (metrics.is_object() && metrics.contains(key) && metrics[key].is_number()) {
      return fmt::format("{}={:.4g}", key, metrics[key].get<double>());
    }
  }
  return "-";
}

std::string Parity(const store::ModelVersion& model) {
  const json parity = json::parse(model.parity_json, nullptr, false);
  if (!parity.is_object() || !parity.contains("max_abs_diff")) return "-";
  // Null when Kiln's engine could not run the model, so parity was not checked.
  if (!parity["max_abs_diff"].is_number()) return "unchecked";
  return fmt::format("{:.2g}", parity["max_abs_diff"].get<double>());
}

void PrintModel(const store::ModelVersion& m) {
  std::cout << fmt::format("{}:{}  ({})\n", m.name, m.version, m.format);
  std::cout << fmt::format("  run         {}  (experiment {})\n", m.run_id, m.experiment);
  std::cout << fmt::format("  snapshot    {}\n", m.snapshot_id);
  std::cout << fmt::format("  file        {}  {} bytes  sha256 {}\n", m.path, m.size_bytes,
                           m.sha256);
  std::cout << fmt::format("  registered  {}\n", FormatTimestamp(m.created_at));
  if (!m.description.empty()) std::cout << fmt::format("  description {}\n", m.description);
  for (const auto& [key, value] : m.tags)
    std::cout << fmt::format("  tag         {}={}\n", key, value);
  const json metrics = json::parse(m.metrics_json, nullptr, false);
  if (metrics.is_object()) {
    for (const auto& [name, value] : metrics.items()) {
      std::cout << fmt::format("  metric      {} = {}\n", name, value.dump());
    }
  }
  const json parity = json::parse(m.parity_json, nullptr, false);
  if (parity.is_object() && parity.contains("engine") && parity["engine"].is_string()) {
    // Which engine can serve it: "kiln", or why Kiln's cannot.
    std::cout << fmt::format("  engine      {}\n", parity["engine"].get<std::string>());
  }
  if (parity.is_object() && parity.contains("max_abs_diff") && parity["max_abs_diff"].is_number()) {
    // A sidecar is any JSON object a run wrote: a field of another type reads as 0.
    const auto number = [&](const char* key) {
      return parity.contains(key) && parity[key].is_number() ? parity[key].get<double>() : 0.0;
    };
    std::cout << fmt::format(
        "  parity      max abs diff {:.3g}, max rel diff {:.3g} (tolerance {:g}) on batches {}\n",
        number("max_abs_diff"), number("max_rel_diff"), number("tolerance"),
        parity.contains("batches") ? parity["batches"].dump() : "[]");
  }
  if (m.deployment) {
    const store::ModelDeployment& d = *m.deployment;
    std::cout << fmt::format("  deployment  {} (snapshot {}, environment {}), deployed {}\n",
                             d.entry_script, d.snapshot_id.substr(0, 12),
                             d.environment_name.empty() ? "none" : d.environment_name,
                             FormatTimestamp(d.deployed_at));
  } else if (m.format == "state_dict") {
    std::cout << "  deployment  none: a state_dict is served with a scoring script (kiln model "
                 "deploy)\n";
  }
  const json signature = json::parse(m.signature_json, nullptr, false);
  if (signature.is_object()) {
    for (const char* side : {"inputs", "outputs"}) {
      for (const json& v : signature.value(side, json::array())) {
        std::cout << fmt::format("  {:<11} {} {}\n",
                                 std::string(side).substr(0, std::string(side).size() - 1),
                                 v.value("name", ""), v.value("shape", json::array()).dump());
      }
    }
  }
}

struct RegisterFlags {
  std::string name, run, path = "outputs/model.onnx", description;
  std::vector<std::string> tags;
  bool json = false;
};

Status RunRegister(const RegisterFlags& flags, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  client::ModelRegistration request{flags.name, flags.run, flags.path, flags.description, {}};
  KILN_ASSIGN_OR_RETURN(request.tags, ParseTags(flags.tags));
  KILN_ASSIGN_OR_RETURN(const store::ModelVersion model,
                        client::RegisterModel(*workspace, request));
  if (flags.json) {
    PrintJson(store::ToJson(model));
  } else {
    std::cout << fmt::format("{}:{} registered from {} {} (sha256 {})\n", model.name, model.version,
                             model.run_id, model.path, model.sha256.substr(0, 12));
  }
  return Status::Ok();
}

Status RunList(const std::string& name, bool as_json, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(const std::vector<store::ModelVersion> models,
                        workspace->store().ListModelVersions(name));
  if (as_json) {
    json out = json::array();
    for (const store::ModelVersion& m : models) out.push_back(store::ToJson(m));
    PrintJson(json{{"models", out}});
    return Status::Ok();
  }
  Table table({"MODEL", "VERSION", "FORMAT", "RUN", "METRIC", "PARITY", "REGISTERED"});
  for (const store::ModelVersion& m : models) {
    table.AddRow({m.name, std::to_string(m.version), m.format, m.run_id, Accuracy(m), Parity(m),
                  FormatTimestamp(m.created_at)});
  }
  std::cout << table.Render();
  return Status::Ok();
}

Status RunShow(const std::string& ref, bool as_json, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(const store::ModelVersion model, client::FindModel(*workspace, ref));
  if (as_json) {
    PrintJson(store::ToJson(model));
  } else {
    PrintModel(model);
  }
  return Status::Ok();
}

Status RunDownload(const std::string& ref, const std::string& output, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(const store::ModelVersion model, client::FindModel(*workspace, ref));
  KILN_ASSIGN_OR_RETURN(const std::filesystem::path written,
                        client::DownloadModel(*workspace, model, output));
  std::cout << written.string() << "\n";
  return Status::Ok();
}

Status RunRemove(const std::string& ref, bool all, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(const auto parsed, client::ParseModelRef(ref));
  if (parsed.second == 0 && !all) {
    return InvalidArgumentError(fmt::format(
        "name the version to remove ({}:VERSION), or remove every version with --all", ref));
  }
  std::vector<std::int64_t> versions = {parsed.second};
  if (all) {
    KILN_ASSIGN_OR_RETURN(const std::vector<store::ModelVersion> models,
                          workspace->store().ListModelVersions(parsed.first));
    if (models.empty())
      return NotFoundError(fmt::format("model '{}' is not registered", parsed.first));
    versions.clear();
    for (const store::ModelVersion& m : models) versions.push_back(m.version);
  }
  for (const std::int64_t version : versions) {
    KILN_RETURN_IF_ERROR(client::RemoveModel(*workspace, parsed.first, version));
    std::cout << fmt::format("removed {}:{}\n", parsed.first, version);
  }
  return Status::Ok();
}

struct ExportFlags {
  std::string run, path = "outputs/model.pt", output, input_shape, name;
  double tolerance = 1e-4;
  int opset = 13;
  bool fixed_batch = false;
  bool strict = false;
};

// Exports a TorchScript artifact to ONNX beside it (kiln.onnx, with its parity check), in
// the run's own outputs, so that registering it keeps the lineage.
Status RunExport(const ExportFlags& flags, CliContext& context) {
  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  if (workspace->server() != nullptr) {
    return FailedPreconditionError(
        "kiln model export writes into the run's outputs, which are on the server's machine: "
        "run it there (without KILN_SERVER)");
  }
  KILN_ASSIGN_OR_RETURN(const std::string run_id,
                        client::ResolveRunId(workspace->store(), flags.run));
  KILN_ASSIGN_OR_RETURN(const store::Run run, workspace->store().GetRun(run_id));
  KILN_ASSIGN_OR_RETURN(const std::filesystem::path source, client::ArtifactFile(run, flags.path));
  const std::string output_name =
      flags.output.empty() ? std::filesystem::path(flags.path).replace_extension(".onnx").string()
                           : flags.output;
  if (!output_name.starts_with("outputs/") || output_name.find("..") != std::string::npos) {
    return InvalidArgumentError(
        fmt::format("--output '{}' must name a file under outputs/", output_name));
  }
  const std::filesystem::path target = std::filesystem::path(run.run_dir) / output_name;
  std::error_code error;
  if (std::filesystem::exists(target, error)) {
    return AlreadyExistsError(
        fmt::format("run {} has an artifact '{}' already; name another with -o outputs/NAME.onnx",
                    run.id, output_name));
  }
  std::vector<std::string> argv = {ReadTunable(kKilnPython),
                                   "-m",
                                   "kiln.onnx",
                                   "export-torchscript",
                                   source.string(),
                                   target.string(),
                                   "--input-shape",
                                   flags.input_shape,
                                   "--tolerance",
                                   fmt::format("{}", flags.tolerance),
                                   "--opset",
                                   std::to_string(flags.opset)};
  if (flags.fixed_batch) argv.push_back("--fixed-batch");
  if (flags.strict) argv.push_back("--strict");
  SpawnOptions spawn;
  spawn.argv = argv;
  std::vector<std::string> env = CurrentEnvironment();
  const std::filesystem::path package = CurrentExecutable().parent_path() / "python";
  const std::optional<std::string_view> existing = FindVariable(env, "PYTHONPATH");
  env.push_back(fmt::format("PYTHONPATH={}{}", package.string(),
                            existing ? ":" + std::string(*existing) : ""));
  spawn.env = env;
  KILN_ASSIGN_OR_RETURN(const CapturedRun result, RunAndCapture(spawn, std::chrono::minutes(30)));
  if (!result.exit.success()) {
    std::string message = std::string(TrimWhitespace(result.err));
    const size_t last = message.rfind('\n');
    if (last != std::string::npos) message = message.substr(last + 1);
    return InvalidArgumentError(
        fmt::format("{}: the export failed ({}): {}", flags.path, result.exit.Describe(), message));
  }
  std::cout << TrimWhitespace(result.out) << "\n";
  if (!flags.name.empty()) {
    KILN_ASSIGN_OR_RETURN(
        const store::ModelVersion model,
        client::RegisterModel(*workspace, {flags.name, run.id, output_name, "", {}}));
    std::cout << fmt::format("{}:{} registered from {} {}\n", model.name, model.version,
                             model.run_id, model.path);
  }
  return Status::Ok();
}

}  // namespace

void AddModelCommands(CLI::App& app, CliContext& context) {
  CLI::App* group = app.add_subcommand(
      "model",
      "The model registry: register models from runs, list, show, download, remove, "
      "export TorchScript to ONNX, deploy with a scoring script");
  group->require_subcommand(1);

  auto reg = std::make_shared<RegisterFlags>();
  CLI::App* add = group->add_subcommand(
      "register", "Register a run's output file as the next version of a model");
  add->add_option("name", reg->name, "Model name (letters, digits, '.', '_', '-')")->required();
  add->add_option("--run", reg->run, "The run it came from (id or its last part)")->required();
  add->add_option("--path", reg->path, "The artifact (default outputs/model.onnx)");
  add->add_option("--tag", reg->tags, "KEY=VALUE (repeatable)");
  add->add_option("--description", reg->description, "Free text");
  add->add_flag("--json", reg->json, "Print the record as JSON");
  add->callback([reg, &context] { context.Finish(RunRegister(*reg, context)); });

  auto list_name = std::make_shared<std::string>();
  auto list_json = std::make_shared<bool>(false);
  CLI::App* list = group->add_subcommand("list", "List registered models, newest version first");
  list->add_option("name", *list_name, "Only this model's versions");
  list->add_flag("--json", *list_json, "Print JSON (docs/cli.md)");
  list->callback([list_name, list_json, &context] {
    context.Finish(RunList(*list_name, *list_json, context));
  });

  auto show_ref = std::make_shared<std::string>();
  auto show_json = std::make_shared<bool>(false);
  CLI::App* show = group->add_subcommand("show", "Show a model version with its lineage");
  show->add_option("model", *show_ref, "NAME[:VERSION] (the latest by default)")->required();
  show->add_flag("--json", *show_json, "Print the record as JSON");
  show->callback(
      [show_ref, show_json, &context] { context.Finish(RunShow(*show_ref, *show_json, context)); });

  auto get_ref = std::make_shared<std::string>();
  auto get_out = std::make_shared<std::string>(".");
  CLI::App* download =
      group->add_subcommand("download", "Write a model version's file here or to -o");
  download->add_option("model", *get_ref, "NAME[:VERSION]")->required();
  download->add_option("-o,--output", *get_out, "A folder (default .) or a file path");
  download->callback(
      [get_ref, get_out, &context] { context.Finish(RunDownload(*get_ref, *get_out, context)); });

  auto rm_ref = std::make_shared<std::string>();
  auto rm_all = std::make_shared<bool>(false);
  CLI::App* remove =
      group->add_subcommand("remove", "Remove a model version (or every version with --all)");
  remove->add_option("model", *rm_ref, "NAME:VERSION, or NAME with --all")->required();
  remove->add_flag("--all", *rm_all, "Every version of the model");
  remove->callback(
      [rm_ref, rm_all, &context] { context.Finish(RunRemove(*rm_ref, *rm_all, context)); });

  AddModelDeployCommands(*group, context);

  auto ex = std::make_shared<ExportFlags>();
  CLI::App* exp = group->add_subcommand(
      "export", "Export a run's TorchScript model to ONNX in its outputs, with the parity check");
  exp->add_option("run", ex->run, "The run (id or its last part)")->required();
  exp->add_option("--path", ex->path, "The TorchScript artifact (default outputs/model.pt)");
  exp->add_option("--input-shape", ex->input_shape,
                  "The sample batch's shape, batch first: 1,1,28,28")
      ->required();
  exp->add_option("-o,--output", ex->output,
                  "The ONNX artifact to write (default: --path with .onnx)");
  exp->add_option("--opset", ex->opset, "ONNX opset (default 13)");
  exp->add_option("--tolerance", ex->tolerance,
                  "Largest absolute difference allowed (default 1e-4)");
  exp->add_flag("--fixed-batch", ex->fixed_batch,
                "Keep the sample's batch size fixed in the model");
  exp->add_flag("--strict", ex->strict,
                "Refuse (and remove) a model Kiln's engine cannot run, instead of keeping it "
                "with parity not checked");
  exp->add_option("--name", ex->name,
                  "Also register the ONNX file as the next version of this model");
  exp->callback([ex, &context] { context.Finish(RunExport(*ex, context)); });
}

}  // namespace kiln::cli
