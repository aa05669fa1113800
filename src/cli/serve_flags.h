#pragma once

// The flags of `kiln serve` (docs/serving.md), shared by its two ways of scoring: Kiln's
// ONNX engine (serve_command.cc) and scoring scripts in worker processes (serve_script.cc).

#include <cstdint>
#include <string>

#include "cli/stop_signals.h"
#include "client/workspace.h"
#include "common/result.h"
#include "serve/scoring_server.h"
#include "store/records.h"

namespace kiln::cli {

struct ServeFlags {
  std::string model;
  std::string host = "127.0.0.1";
  int port = 8080;
  int threads = 0;
  int http_threads = 16;
  std::int64_t max_batch = 64;
  std::int64_t max_length = 4096;
  std::int64_t batch_timeout_us = 0;
  int max_body_mb = 64;
  std::string tls_cert;
  std::string tls_key;
  std::string token_file;
  // Scoring scripts.
  std::string entry_script;      // serve with this script, not recording it
  std::string source_directory;  // the script's folder (default: the one that holds it)
  std::string environment;       // a registered environment for --entry-script
  int workers = 1;
  int request_timeout_s = 60;
  int init_timeout_s = 300;
  bool onnx_flags_given = false;  // --max-batch, --batch-timeout-us or --max-length
};

// The listener's options from the flags (the token already read from --token-file).
serve::ScoringServerOptions ServerOptionsOf(const ServeFlags& flags, const std::string& token);

// Serves `model` through a scoring script: the model's deployment, the script the flags
// give, or the built-in one of a TorchScript model. Returns when stopped.
Status ServeWithScript(const ServeFlags& flags, const std::string& token,
                       client::Workspace& workspace, const store::ModelVersion& model,
                       const StopSignals& stop_signals);

}  // namespace kiln::cli
