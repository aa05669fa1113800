// kiln serve of a model through a scoring script (docs/serving.md, "Scoring scripts"): the
// version's deployment, a script given with --entry-script, or the built-in script of a
// TorchScript model, run by a pool of Python workers.

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/serve_flags.h"
#include "client/environment_registry.h"
#include "client/model_deployment.h"
#include "client/scoring_setup.h"
#include "env/environment_spec.h"
#include "serve/script_server.h"
#include "serve/worker_pool.h"

namespace kiln::cli {

namespace {

using nlohmann::json;

// Where the script comes from, and /metadata's "scoring" object describing it.
Result<client::ScoringSource> SourceOf(const ServeFlags& flags, client::Workspace& workspace,
                                       const store::ModelVersion& model, json* scoring) {
  client::ScoringSource source;
  source.threads = flags.threads;
  if (!flags.entry_script.empty()) {
    KILN_ASSIGN_OR_RETURN(
        const client::ScriptSnapshot script,
        client::SnapshotScript(workspace, {.model = flags.model,
                                           .entry_script = flags.entry_script,
                                           .source_directory = flags.source_directory}));
    source.entry_script = script.entry_script;
    source.snapshot_id = script.snapshot_id;
    if (!flags.environment.empty()) {
      KILN_ASSIGN_OR_RETURN(const client::RegisteredEnvironment registered,
                            client::EnvironmentRegistry(workspace).Get(flags.environment));
      source.environment_json = env::EnvironmentToJson(registered.spec).dump();
    }
    *scoring = {
        {"kind", "script"},
        {"entry_script", source.entry_script},
        {"snapshot", source.snapshot_id},
        {"environment", flags.environment.empty() ? json(nullptr) : json(flags.environment)},
        {"deployed", false}};
    return source;
  }
  if (!flags.environment.empty() || !flags.source_directory.empty()) {
    return InvalidArgumentError("--environment and --source-directory go with --entry-script");
  }
  if (model.deployment) {
    const store::ModelDeployment& deployment = *model.deployment;
    source.entry_script = deployment.entry_script;
    source.snapshot_id = deployment.snapshot_id;
    source.environment_json = deployment.environment_json;
    *scoring = {
        {"kind", "script"},
        {"entry_script", deployment.entry_script},
        {"snapshot", deployment.snapshot_id},
        {"environment",
         deployment.environment_name.empty() ? json(nullptr) : json(deployment.environment_name)},
        {"deployed", true}};
    return source;
  }
  source.builtin_torchscript = true;  // SourceOf is only asked for TorchScript otherwise
  *scoring = {{"kind", "torchscript"}, {"entry_script", nullptr}, {"deployed", false}};
  return source;
}

}  // namespace

Status ServeWithScript(const ServeFlags& flags, const std::string& token,
                       client::Workspace& workspace, const store::ModelVersion& model,
                       const StopSignals& stop_signals) {
  if (flags.workers < 1 || flags.request_timeout_s < 1 || flags.init_timeout_s < 1) {
    return InvalidArgumentError(
        "--workers, --request-timeout-s and --init-timeout-s must be at least 1");
  }
  if (flags.onnx_flags_given) {
    spdlog::warn(
        "--max-batch, --batch-timeout-us and --max-length are for ONNX models on Kiln's engine; "
        "a scoring script gets each request whole");
  }
  json scoring;
  KILN_ASSIGN_OR_RETURN(const client::ScoringSource source,
                        SourceOf(flags, workspace, model, &scoring));
  KILN_ASSIGN_OR_RETURN(const std::unique_ptr<client::PreparedScoring> prepared,
                        client::PrepareScoring(workspace, model, source, [](std::string_view line) {
                          spdlog::info("[environment] {}", line);
                        }));
  scoring["python"] = prepared->python;
  scoring["workers"] = flags.workers;
  scoring["request_timeout_s"] = flags.request_timeout_s;

  serve::WorkerPoolOptions pool_options;
  pool_options.argv = prepared->argv;
  pool_options.env = prepared->env;
  pool_options.cwd = prepared->source;
  pool_options.workers = flags.workers;
  pool_options.init_timeout = std::chrono::seconds(flags.init_timeout_s);
  pool_options.request_timeout = std::chrono::seconds(flags.request_timeout_s);
  serve::WorkerPool pool(pool_options);
  spdlog::info("starting {} worker(s): {} {}", flags.workers, prepared->python,
               prepared->script.string());
  if (Status started = pool.Start(); !started.ok()) {
    return started.WithPrefix(fmt::format("{}:{}: the scoring script's workers did not start",
                                          model.name, model.version));
  }
  KILN_ASSIGN_OR_RETURN(
      std::unique_ptr<serve::ScriptServer> server,
      serve::ScriptServer::Create(ServerOptionsOf(flags, token), pool, model, scoring));
  std::cout << fmt::format("kiln serve: {}:{} listening on {}", model.name, model.version,
                           server->url())
            << std::endl;
  std::cerr << fmt::format(
      "scoring: {}, {} worker(s), python {}\n",
      source.builtin_torchscript ? "TorchScript (built-in script)" : source.entry_script,
      flags.workers, prepared->python);
  const Status served =
      stop_signals.ServeUntilStopped([&] { return server->Serve(); }, [&](int) { server->Stop(); });
  server.reset();  // the requests in flight have finished: the workers can go
  pool.Stop();
  return served;
}

}  // namespace kiln::cli
