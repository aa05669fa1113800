#include "serve/scoring_server.h"

#include <fmt/format.h>
#include <httplib.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

#include "http/listener.h"
#include "serve/score_reply.h"
#include "serve/serve_listener.h"

namespace kiln::serve {

using nlohmann::json;

namespace {

using http::ReplyError;

void ReplyStatus(httplib::Response& response, const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      return ReplyError(response, 400, status);
    case StatusCode::kResourceExhausted:
      response.set_header("Retry-After", "1");
      return ReplyError(response, 503, status);
    case StatusCode::kUnavailable:
      return ReplyError(response, 503, status);
    default:
      return ReplyError(response, 500, status);
  }
}

json ShapeJson(const std::vector<int64_t>& shape) {
  json out = json::array();
  for (const int64_t d : shape)
    out.push_back(d == inference::kDynamicDim ? json(nullptr) : json(d));
  return out;
}

}  // namespace

class ScoringServer::Impl {
 public:
  Impl(inference::Engine& engine, const store::ModelVersion& model,
       const ScoringServerOptions& options)
      : engine_(engine), model_(model), options_(options), batcher_(engine, options.batching) {
    for (const inference::ValueInfo& input : engine.inputs()) {
      specs_.push_back(InputSpec::Of(input));
      specs_.back().max_open_size = options.max_length;
    }
  }

  Status Open() {
    KILN_ASSIGN_OR_RETURN(listener_, OpenServeListener(options_));

    listener_->Get("/health", [](const httplib::Request&, httplib::Response& response) {
      response.set_content(R"({"status":"ok"})", "application/json");
    });
    listener_->Get("/metadata", [this](const httplib::Request&, httplib::Response& response) {
      response.set_content(Metadata().dump(), "application/json");
    });
    listener_->Post("/score", [this](const httplib::Request& request, httplib::Response& response) {
      Score(request, response);
    });
    return Status::Ok();
  }

  json Metadata() const {
    json inputs = json::array();
    for (size_t k = 0; k < specs_.size(); ++k) {
      inputs.push_back({{"name", specs_[k].name},
                        {"shape", ShapeJson(engine_.inputs()[k].shape)},
                        {"type", specs_[k].TypeName()}});
    }
    json outputs = json::array();  // the engine computes every output in float32
    for (const inference::ValueInfo& v : engine_.outputs()) {
      outputs.push_back({{"name", v.name}, {"shape", ShapeJson(v.shape)}, {"type", "float32"}});
    }
    const BatcherStats stats = batcher_.stats();
    return {
        {"model",
         {{"name", model_.name},
          {"version", model_.version},
          {"sha256", model_.sha256},
          {"run", model_.run_id},
          {"experiment", model_.experiment},
          {"format", model_.format}}},
        {"inputs", inputs},
        {"outputs", outputs},
        {"engine",
         {{"name", "kiln-onednn"},
          {"threads", engine_.threads()},
          {"dynamic_batch", engine_.dynamic_batch()},
          {"max_batch", options_.batching.max_batch},
          {"opset", engine_.opset()}}},
        {"served",
         {{"requests", stats.requests}, {"batches", stats.batches}, {"samples", stats.samples}}}};
  }

  void Score(const httplib::Request& request, httplib::Response& response) {
    const std::string type = request.get_header_value("Content-Type");
    Result<InputBatch> input =
        type.starts_with("application/octet-stream")
            ? ParseRawInputs(request.body, request.get_header_value("X-Kiln-Inputs"),
                             request.get_header_value("X-Kiln-Shape"), specs_)
            : ParseJsonInputs(request.body, specs_);
    if (!input.ok()) return ReplyStatus(response, input.status());
    if (!engine_.dynamic_batch() && input->batch != engine_.fixed_batch()) {
      return ReplyStatus(response, InvalidArgumentError(fmt::format(
                                       "the model was exported for batches of {} exactly; send {} "
                                       "samples (or export it with a dynamic batch)",
                                       engine_.fixed_batch(), engine_.fixed_batch())));
    }
    Result<std::vector<inference::Tensor>> outputs = engine_.dynamic_batch()
                                                         ? batcher_.Score(std::move(input).value())
                                                         : engine_.Run(input->Tensors());
    if (!outputs.ok()) return ReplyStatus(response, outputs.status());
    if (request.get_header_value("Accept").starts_with("application/octet-stream")) {
      RawScores raw = RawScoresOf(*outputs);
      response.set_header("X-Kiln-Outputs", raw.outputs_header);
      response.set_header("X-Kiln-Output", outputs->front().name);
      response.set_header("X-Kiln-Shape", raw.first_shape);
      response.set_content(std::move(raw.body), "application/octet-stream");
      return;
    }
    response.set_content(ScoresJson(*outputs, model_.name, model_.version).dump(),
                         "application/json");
  }

  inference::Engine& engine_;
  const store::ModelVersion model_;
  const ScoringServerOptions options_;
  Batcher batcher_;
  std::vector<InputSpec> specs_;  // the model's inputs, in its order
  std::unique_ptr<http::Listener> listener_;
};

ScoringServer::ScoringServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ScoringServer::~ScoringServer() { Stop(); }

Result<std::unique_ptr<ScoringServer>> ScoringServer::Create(const ScoringServerOptions& options,
                                                             inference::Engine& engine,
                                                             const store::ModelVersion& model) {
  if (options.batching.max_batch < 1 || options.http_threads < 1) {
    return InvalidArgumentError("--max-batch and --http-threads must be at least 1");
  }
  auto impl = std::make_unique<Impl>(engine, model, options);
  KILN_RETURN_IF_ERROR(impl->Open());
  return std::unique_ptr<ScoringServer>(new ScoringServer(std::move(impl)));
}

const std::string& ScoringServer::url() const { return impl_->listener_->url(); }
int ScoringServer::port() const { return impl_->listener_->port(); }

Status ScoringServer::Serve() { return impl_->listener_->Serve(); }

void ScoringServer::Stop() { impl_->listener_->Stop(); }

}  // namespace kiln::serve
