#pragma once

// ScoringServer: `kiln serve`, a model version scored over HTTP (docs/serving.md).
//   POST /score     every input by name, as JSON or raw (score_request.h); replies with
//                   every output, as JSON or raw float32 when the request says Accept:
//                   application/octet-stream (score_reply.h)
//   GET  /health    {"status": "ok"}, open to anyone
//   GET  /metadata  the model (name, version, sha256, run), its inputs and outputs, the engine
// Served by http::Listener (https with a certificate, the body limit, the common replies).
// With a token, /score and /metadata need "Authorization: Bearer <token>" (401 otherwise).
// Every bad request is a 400 with {"error": {"code", "message"}} naming what is wrong; a
// body over the limit is a 413, a full queue a 503 with Retry-After, and a failure of the
// engine a 500 for that request only (logged).

#include <atomic>
#include <cstddef>
#include <filesystem>
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
  std::int64_t max_length = 4096;  // the most an open dimension but the batch may be
  std::filesystem::path tls_cert;  // both or neither: https with this certificate and key
  std::filesystem::path tls_key;
  // Not empty: the bearer token that /score and /metadata require.
  std::string token;
  BatcherOptions batching;
};

class ScoringServer {
 public:
  // Listens at once (url() is known before Serve()). InvalidArgument for bad options or TLS
  // files, Unavailable for a taken port.
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
