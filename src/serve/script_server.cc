#include "serve/script_server.h"

#include <spdlog/spdlog.h>

#include "serve/serve_listener.h"

namespace kiln::serve {

using nlohmann::json;

namespace {

int HttpStatusOf(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kResourceExhausted:
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

}  // namespace

Result<std::unique_ptr<ScriptServer>> ScriptServer::Create(const ScoringServerOptions& options,
                                                           WorkerPool& pool,
                                                           const store::ModelVersion& model,
                                                           json scoring) {
  if (options.http_threads < 1) return InvalidArgumentError("--http-threads must be at least 1");
  std::unique_ptr<ScriptServer> server(new ScriptServer(pool, model, std::move(scoring)));
  KILN_ASSIGN_OR_RETURN(server->listener_, OpenServeListener(options));
  ScriptServer* self = server.get();
  self->listener_->Get("/health", [self](const httplib::Request&, httplib::Response& response) {
    self->Health(response);
  });
  self->listener_->Get("/metadata", [self](const httplib::Request&, httplib::Response& response) {
    response.set_content(self->Metadata().dump(-1, ' ', false, json::error_handler_t::replace),
                         "application/json");
  });
  self->listener_->Post("/score",
                        [self](const httplib::Request& request, httplib::Response& response) {
                          self->Score(request, response);
                        });
  return server;
}

void ScriptServer::Score(const httplib::Request& request, httplib::Response& response) {
  ++requests_;
  Result<std::string> answer = pool_.Score(request.body);
  if (answer.ok()) {
    response.set_content(std::move(answer).value(), "application/json");
    return;
  }
  ++errors_;
  const int status = HttpStatusOf(answer.status());
  if (status == 503) response.set_header("Retry-After", "1");
  if (status >= 500) spdlog::error("POST /score: {}", answer.status().message());
  http::ReplyError(response, status, answer.status());
}

void ScriptServer::Health(httplib::Response& response) const {
  const PoolHealth health = pool_.Health();
  json workers = json::array();
  for (const WorkerState& worker : health.workers) {
    json entry = {{"index", worker.index},
                  {"pid", worker.pid == 0 ? json(nullptr) : json(worker.pid)},
                  {"state", worker.state},
                  {"restarts", worker.restarts}};
    if (!worker.last_exit.empty()) entry["last_exit"] = worker.last_exit;
    workers.push_back(entry);
  }
  const int total = static_cast<int>(health.workers.size());
  std::string status = "ok";
  if (health.ready == 0) {
    status = health.failed == total ? "failed" : "restarting";
  } else if (health.ready < total) {
    status = "degraded";
  }
  json body = {{"status", status}, {"workers", workers}};
  if (health.failed > 0) body["reason"] = health.last_failure;
  response.status = health.ready > 0 ? 200 : 503;
  // A worker's failure text may hold any bytes.
  response.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace),
                       "application/json");
}

json ScriptServer::Metadata() const {
  return {{"model",
           {{"name", model_.name},
            {"version", model_.version},
            {"sha256", model_.sha256},
            {"run", model_.run_id},
            {"experiment", model_.experiment},
            {"format", model_.format}}},
          {"scoring", scoring_},
          {"served", {{"requests", requests_.load()}, {"errors", errors_.load()}}}};
}

}  // namespace kiln::serve
