// kiln serve NAME[:VERSION]: a registered model scored over HTTP (docs/serving.md): ONNX with
// Kiln's engine here, a scoring script (a deployment, --entry-script, or TorchScript's built-in
// one) in serve_script.cc.

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/serve_flags.h"
#include "cli/stop_signals.h"
#include "client/model_registry.h"
#include "common/files.h"
#include "common/strings.h"
#include "inference/engine.h"
#include "serve/score_request.h"
#include "serve/scoring_server.h"

namespace kiln::cli {
namespace {

// The fewest characters a token may have: `openssl rand -hex 32` gives 64.
constexpr std::size_t kMinTokenChars = 16;

// The bearer token in `path` (its first line). A secret never comes from the command line,
// where any user of the machine can read it; the file must be readable by its owner only.
Result<std::string> ReadTokenFile(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    return InvalidArgumentError(fmt::format("--token-file {}: no such file", path));
  }
  if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return InvalidArgumentError(
        fmt::format("--token-file {}: other users may read it (mode {:o}); chmod 600 {}", path,
                    info.st_mode & 0777, path));
  }
  KILN_ASSIGN_OR_RETURN(const std::string text, ReadFileToString(path));
  const std::string token(TrimWhitespace(text.substr(0, text.find('\n'))));
  if (token.size() < kMinTokenChars || token.find_first_of(" \t\r") != std::string::npos) {
    return InvalidArgumentError(fmt::format(
        "--token-file {}: the token must be one line of at least {} characters without spaces "
        "(e.g. openssl rand -hex 32 > {})",
        path, kMinTokenChars, path));
  }
  return token;
}

Status RunServe(const ServeFlags& flags, CliContext& context) {
  if (flags.port < 0 || flags.port > 65535 || flags.threads < 0 || flags.max_batch < 1 ||
      flags.max_length < 1 || flags.batch_timeout_us < 0 || flags.max_body_mb < 1 ||
      flags.http_threads < 1) {
    return InvalidArgumentError(
        "--port must be 0 to 65535, --threads >= 0, --max-batch >= 1, --max-length >= 1, "
        "--http-threads >= 1, "
        "--batch-timeout-us >= 0 and --max-body-mb >= 1");
  }
  // stdout carries the one "listening on URL" line; the log goes to stderr.
  spdlog::set_default_logger(spdlog::stderr_logger_mt("kiln-serve"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %l %v", spdlog::pattern_time_type::utc);
  std::string token;
  if (!flags.token_file.empty()) {
    KILN_ASSIGN_OR_RETURN(token, ReadTokenFile(flags.token_file));
  }
  if (flags.tls_cert.empty() != flags.tls_key.empty()) {
    return InvalidArgumentError("--tls-cert and --tls-key go together; give both");
  }
  const StopSignals stop_signals;  // before the engine starts its OpenMP pool

  KILN_ASSIGN_OR_RETURN(auto workspace, context.OpenWorkspace());
  KILN_ASSIGN_OR_RETURN(const store::ModelVersion model,
                        client::FindModel(*workspace, flags.model));
  if (!flags.entry_script.empty() || model.deployment || model.format == "torchscript") {
    return ServeWithScript(flags, token, *workspace, model, stop_signals);
  }
  if (!flags.environment.empty() || !flags.source_directory.empty()) {
    return InvalidArgumentError("--environment and --source-directory go with --entry-script");
  }
  if (model.format == "state_dict") {
    return FailedPreconditionError(fmt::format(
        "{}:{} is a state_dict: its weights, without the code of the model they belong to. "
        "Serve it with a scoring script whose init() builds the model and loads them: kiln "
        "model deploy {}:{} --entry-script score.py (docs/serving.md, \"Scoring scripts\"), "
        "or try one with kiln serve {}:{} --entry-script score.py",
        model.name, model.version, model.name, model.version, model.name, model.version));
  }
  if (model.format != "onnx") {
    return InvalidArgumentError(fmt::format(
        "{}:{} is a {} file; kiln serve scores ONNX models with Kiln's engine, TorchScript "
        "models, and any model with a scoring script (kiln model deploy {}:{} --entry-script "
        "score.py)",
        model.name, model.version, model.format, model.name, model.version));
  }
  KILN_ASSIGN_OR_RETURN(const std::filesystem::path file, client::ModelFile(*workspace, model));
  KILN_ASSIGN_OR_RETURN(
      std::unique_ptr<inference::Engine> engine,
      inference::Engine::Load(file.string(),
                              {.threads = flags.threads, .max_plan_batch = flags.max_batch}));

  // Requests give every input the same number of samples, joined along the first dimension.
  const std::vector<inference::ValueInfo>& inputs = engine->inputs();
  for (const inference::ValueInfo& input : inputs) {
    if (input.shape[0] != inputs[0].shape[0]) {
      return InvalidArgumentError(fmt::format(
          "{}:{}: input '{}' is {} and input '{}' {}; kiln serve takes models whose inputs all "
          "have the batch first (export every input with the same first axis, batch)",
          model.name, model.version, inputs[0].name, inference::ShapeText(inputs[0].shape),
          input.name, inference::ShapeText(input.shape)));
    }
  }
  if (engine->dynamic_batch() && !engine->batch_first()) {
    return InvalidArgumentError(fmt::format(
        "{}:{}: input '{}' leaves its first dimension open as '{}'; kiln serve joins requests "
        "along it, so it must be the batch (export it batch first, with the first axis named "
        "batch)",
        model.name, model.version, engine->input().name, engine->input().dim_names[0]));
  }
  serve::ScoringServerOptions options = ServerOptionsOf(flags, token);
  options.batching.max_batch = flags.max_batch;
  options.max_length = flags.max_length;
  options.batching.timeout = std::chrono::microseconds(flags.batch_timeout_us);
  options.batching.max_queued = std::max<std::int64_t>(4096, 16 * flags.max_batch);
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<serve::ScoringServer> server,
                        serve::ScoringServer::Create(options, *engine, model));
  std::cout << fmt::format("kiln serve: {}:{} listening on {}", model.name, model.version,
                           server->url())
            << std::endl;
  std::vector<std::string> described;
  for (const inference::ValueInfo& input : inputs) {
    described.push_back(fmt::format("{} {} {}", input.name, serve::InputSpec::Of(input).TypeName(),
                                    inference::ShapeText(input.shape)));
  }
  std::cerr << fmt::format(
      "engine: oneDNN, {} threads, batches up to {} ({}), inputs {}\n", engine->threads(),
      flags.max_batch, engine->dynamic_batch() ? "dynamic" : "fixed", fmt::join(described, ", "));
  return stop_signals.ServeUntilStopped([&] { return server->Serve(); },
                                        [&](int) { server->Stop(); });
}

}  // namespace

serve::ScoringServerOptions ServerOptionsOf(const ServeFlags& flags, const std::string& token) {
  serve::ScoringServerOptions options;
  options.host = flags.host;
  options.port = flags.port;
  options.http_threads = flags.http_threads;
  options.max_body_bytes = static_cast<std::size_t>(flags.max_body_mb) << 20;
  options.tls_cert = flags.tls_cert;
  options.tls_key = flags.tls_key;
  options.token = token;
  return options;
}

void AddServeCommand(CLI::App& app, CliContext& context) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* serve = app.add_subcommand(
      "serve",
      "Score a registered model over HTTP (POST /score, GET /health, GET /metadata): ONNX with "
      "Kiln's engine, TorchScript, or any model with a scoring script");
  serve->add_option("model", flags->model, "NAME[:VERSION] (the latest by default)")->required();
  serve->add_option("--port", flags->port, "TCP port (default 8080; 0: any free one)");
  serve->add_option("--host", flags->host, "Address to listen on (default 127.0.0.1)");
  serve->add_option("--threads", flags->threads, "Engine threads (default 0: every core)");
  serve->add_option("--max-batch", flags->max_batch, "Most samples scored together (default 64)");
  serve->add_option(
      "--max-length", flags->max_length,
      "Most an open dimension but the batch may be, a sequence length (default 4096)");
  serve->add_option("--batch-timeout-us", flags->batch_timeout_us,
                    "How long a lone request waits for others to join it (default 0)");
  serve->add_option("--http-threads", flags->http_threads,
                    "Connections served at once (default 16)");
  serve->add_option("--max-body-mb", flags->max_body_mb, "Largest request body, MiB (default 64)");
  serve->add_option("--tls-cert", flags->tls_cert, "Serve https with this PEM certificate");
  serve->add_option("--tls-key", flags->tls_key, "The certificate's PEM private key");
  serve->add_option("--token-file", flags->token_file,
                    "Require 'Authorization: Bearer <token>' (but for /health), the token being "
                    "this file's first line (mode 600)");
  serve->add_option("--entry-script", flags->entry_script,
                    "Score with this scoring script (init(), run(raw_data)) without recording "
                    "it: try a script before kiln model deploy");
  serve->add_option("--source-directory", flags->source_directory,
                    "The folder --entry-script is in and imports from (default: its own)");
  serve->add_option("--environment", flags->environment,
                    "A registered environment for --entry-script's workers (kiln env list)");
  serve->add_option("--workers", flags->workers, "Scoring-script worker processes (default 1)");
  serve->add_option("--request-timeout-s", flags->request_timeout_s,
                    "Longest run() of a scoring script, s (default 60); its worker is "
                    "restarted after");
  serve->add_option("--init-timeout-s", flags->init_timeout_s,
                    "Longest init() of a scoring script, s (default 300)");
  serve->callback([flags, serve, &context] {
    flags->onnx_flags_given = serve->count("--max-batch") + serve->count("--batch-timeout-us") +
                                  serve->count("--max-length") >
                              0;
    context.Finish(RunServe(*flags, context));
  });
}

}  // namespace kiln::cli
