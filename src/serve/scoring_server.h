#pragma once

// ScoringServer: `kiln serve`, a model version scored over HTTP (docs/serving.md).
//   POST /score     JSON {"inputs": [...]} or raw float32 (X-Kiln-Shape); replies with the
//                   outputs and each sample's argmax, as JSON, or as raw float32 when the
//                   request says Accept: application/octet-stream
//   GET  /health    {"status": "ok"}
//   GET  /metadata  the model (name, version, sha256, run), its inputs and outputs, the engine
// Every bad request is a 400 with {"error": {"code", "message"}} naming what is wrong, a
// body over the limit included; a full queue is a 503 with Retry-After.

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

#include "common/result.h"
#include "inference/engine.h"
#include "serve/batcher.h"
#include "store/records.h"

namespace kiln::serve {

struct ScoringServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port
  int http_threads = 16;
  std::size_t max_body_bytes = 64u << 20;
  BatcherOptions batching;
};

class ScoringServer {
 public:
  // Listens at once (url() is known before Serve()).
  static Result<std::unique_ptr<ScoringServer>> Create(const ScoringServerOptions& options,
                                                       inference::Engine& engine,
                                                       const store::ModelVersion& model);
  ~ScoringServer();

  const std::string& url() const;
  int port() const;
  // Serves until Stop(); requests in flight finish first.
  Status Serve();
  void Stop();

 private:
  class Impl;
  explicit ScoringServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::serve
