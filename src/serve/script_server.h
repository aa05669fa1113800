#pragma once

// ScriptServer: `kiln serve` of a model through a scoring script (docs/serving.md,
// "Scoring scripts"): the same endpoints as the ONNX engine's, answered by a WorkerPool.
//   POST /score     the body, as it came, to run(); its JSON back. Errors as
//                   {"error": {"code", "message"}}: 400 for a body that is not UTF-8 or a
//                   run() that raised an exception marked http_status = 400, 500 for any
//                   other exception (its type and message) or a worker that died while
//                   scoring, 504 for run() past --request-timeout-s, 503 with Retry-After
//                   when no worker can take it
//   GET  /health    every worker's state; 200 while one can score, else 503 (starting
//                   again, or failed for good with the reason); open to anyone
//   GET  /metadata  the model, how it is scored (the script, its snapshot, the python, the
//                   workers), what was served
// The listener, TLS and the bearer token are serve_listener.h's.
//
// Thread-safety: as ScoringServer. The pool must outlive the server.

#include <atomic>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/result.h"
#include "http/listener.h"
#include "serve/scoring_server.h"
#include "serve/worker_pool.h"
#include "store/records.h"

namespace kiln::serve {

class ScriptServer {
 public:
  // `scoring` is /metadata's "scoring" object. Listens at once; errors as ScoringServer's.
  static Result<std::unique_ptr<ScriptServer>> Create(const ScoringServerOptions& options,
                                                      WorkerPool& pool,
                                                      const store::ModelVersion& model,
                                                      nlohmann::json scoring);

  const std::string& url() const { return listener_->url(); }
  // Serves until Stop(); requests in flight finish first.
  Status Serve() { return listener_->Serve(); }
  void Stop() { listener_->Stop(); }

 private:
  ScriptServer(WorkerPool& pool, const store::ModelVersion& model, nlohmann::json scoring)
      : pool_(pool), model_(model), scoring_(std::move(scoring)) {}
  void Score(const httplib::Request& request, httplib::Response& response);
  void Health(httplib::Response& response) const;
  nlohmann::json Metadata() const;

  WorkerPool& pool_;
  const store::ModelVersion model_;
  const nlohmann::json scoring_;
  std::unique_ptr<http::Listener> listener_;
  std::atomic<std::int64_t> requests_{0};
  std::atomic<std::int64_t> errors_{0};
};

}  // namespace kiln::serve
