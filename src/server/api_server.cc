#include "server/api_server.h"

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <cmath>
#include <regex>

#include "common/files.h"
#include "common/subprocess.h"
#include "common/tunables.h"
#include "http/listener.h"
#include "server/auth.h"
#include "server/request_contexts.h"
#include "server/route_access.h"
#include "server/routes.h"
#include "store/wire.h"

namespace kiln::server {

using nlohmann::json;

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kAborted:
      return 409;
    case StatusCode::kResourceExhausted:
      return 413;
    case StatusCode::kCancelled:
      return 499;
    case StatusCode::kUnimplemented:
      return 501;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

void ReplyJson(httplib::Response& response, const json& body, int status) {
  response.status = status;
  // Messages may quote request bytes (a parse error's "last read"): invalid UTF-8 is
  // replaced, never an exception that turns a 400 into a 500.
  response.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace),
                       "application/json");
}

void ReplyError(httplib::Response& response, const Status& status) {
  http::ReplyError(response, HttpStatusFor(status.code()), status);
}

httplib::Server::Handler Json(JsonHandler handler, int ok_status) {
  return [handler = std::move(handler), ok_status](const httplib::Request& request,
                                                   httplib::Response& response) {
    Result<json> result = handler(request);
    if (!result.ok()) {
      if (result.status().code() == StatusCode::kInternal ||
          result.status().code() == StatusCode::kDataLoss) {
        spdlog::error("{} {}: {}", request.method, request.path, result.status().ToString());
      }
      ReplyError(response, result.status());
      return;
    }
    ReplyJson(response, *result, ok_status);
  };
}

Result<json> BodyJson(const httplib::Request& request) {
  if (request.body.empty()) return InvalidArgumentError("the request needs a JSON body");
  return store::wire::ParseBody(request.body);
}

Result<std::int64_t> QueryInt(const httplib::Request& request, const std::string& name,
                              std::int64_t fallback, std::int64_t min_value) {
  if (!request.has_param(name)) return fallback;
  const std::string text = request.get_param_value(name);
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < min_value) {
    return InvalidArgumentError(fmt::format(
        "query parameter {}: expected an integer >= {}, got '{}'", name, min_value, text));
  }
  return value;
}

Result<std::optional<double>> QueryNumber(const httplib::Request& request,
                                          const std::string& name) {
  if (!request.has_param(name)) return std::optional<double>();
  const std::string text = request.get_param_value(name);
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
    return InvalidArgumentError(
        fmt::format("query parameter {}: expected a number, got '{}'", name, text));
  }
  return std::optional<double>(value);
}

Result<int> PathRank(const httplib::Request& request, std::size_t index) {
  const std::string text = request.matches[index].str();
  int rank = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), rank);
  if (error != std::errc() || end != text.data() + text.size() || rank < 0) {
    return InvalidArgumentError(fmt::format("rank '{}' is not a rank number", text));
  }
  return rank;
}

Result<Caller> CallerOf(const ServerState& state, const httplib::Request& request) {
  std::optional<Caller> caller = state.requests.CallerOf(request);
  if (!caller) {
    return InternalError(fmt::format("{} {} reached its route without a checked token",
                                     request.method, request.path));
  }
  return std::move(caller).value();
}

class ApiServer::Impl {
 public:
  Status Open(const ServerOptions& options) {
    http::ListenerOptions listen;
    listen.host = options.host;
    listen.port = options.port;
    listen.tls_cert = options.tls_cert;
    listen.tls_key = options.tls_key;
    listen.threads = options.threads;
    listen.max_body_bytes = options.max_body_bytes;
    listen.keep_alive_max_count = 1000;
    listen.program = "kiln server";
    listen.endpoints_hint = "; see docs/openapi.yaml";
    KILN_ASSIGN_OR_RETURN(listener_, http::Listener::Open(listen));
    http_ = &listener_->server();
    const bool tls = listener_->tls();
    port_ = listener_->port();
    url_ = listener_->url();

    client::WorkspaceOptions workspace;
    workspace.home = options.home;
    workspace.kiln_program = options.kiln_program;
    workspace.store_url = options.store_url;
    workspace.server_url = "";  // the server's own workspace is never a client of a server
    client::LauncherReporting reporting;
    if (!options.advertise_url.empty() &&
        !options.advertise_url.starts_with(tls ? "https://" : "http://")) {
      return InvalidArgumentError(
          fmt::format("--advertise-url: '{}' must start with {}, as this server speaks {}",
                      options.advertise_url, tls ? "https://" : "http://", tls ? "https" : "http"));
    }
    reporting.store_url = options.advertise_url.empty() ? url_ : options.advertise_url;
    // Launchers trust KILN_CA_CERT as the server sees it, else the server's own certificate
    // (right for a self-signed one; one from a CA needs KILN_CA_CERT set for the server).
    const std::string ca = ReadTunable(kKilnCaCert);
    reporting.ca_file = !tls          ? ""
                        : !ca.empty() ? AbsolutePath(ca).string()
                                      : AbsolutePath(options.tls_cert).string();
    reporting.mint_run_token = [this](const std::string& run_id) -> Result<std::string> {
      KILN_ASSIGN_OR_RETURN(MintedToken token, MintToken(workspace_->store(), "run:" + run_id,
                                                         store::kDefaultTokenRole, run_id));
      return token.secret;
    };
    reporting.revoke_run_token = [this](const std::string& run_id) {
      const auto tokens = workspace_->store().ListApiTokens(true);
      if (!tokens.ok()) return;
      for (const store::ApiToken& token : *tokens) {
        if (token.run_id == run_id) workspace_->store().RevokeApiToken(token.id).IgnoreError();
      }
    };
    workspace.launcher_reporting = std::move(reporting);
    KILN_ASSIGN_OR_RETURN(workspace_, client::Workspace::Open(workspace));
    KILN_ASSIGN_OR_RETURN(const std::int64_t poll, ReadTunable(kSweepPollMilliseconds));
    sweeps_ = std::make_unique<sweep::SweepHost>(*workspace_, std::chrono::milliseconds(poll));
    state_ = std::make_unique<ServerState>(
        ServerState{*workspace_, snapshot::SnapshotStore(workspace_->snapshots_root()), *sweeps_,
                    stopping_, requests_});

    http_->set_pre_routing_handler(
        [this](const httplib::Request& request, httplib::Response& response) {
          requests_.Begin(request);
          return Authorize(request, response) ? httplib::Server::HandlerResponse::Unhandled
                                              : httplib::Server::HandlerResponse::Handled;
        });
    http_->set_logger([this](const httplib::Request& request, const httplib::Response& response) {
      LogAccess(request, response);
    });

    listener_->Get("/v1/health", Json([this](const httplib::Request&) -> Result<json> {
                     return json{{"status", stopping_ ? "stopping" : "ok"}, {"api", "v1"}};
                   }));
    AddRunRoutes(*listener_, *state_);
    AddSweepRoutes(*listener_, *state_);
    AddMetricRoutes(*listener_, *state_);
    AddFileRoutes(*listener_, *state_);
    AddModelRoutes(*listener_, *state_);
    AddEnvironmentRoutes(*listener_, *state_);
    AddCatalogRoutes(*listener_, *state_);
    AddTokenRoutes(*listener_, *state_);
    AddUiRoutes(*listener_);
    SetSecurityHeaders(*http_);
    // The sweeps a server that stopped was driving go on where they were.
    KILN_RETURN_IF_ERROR(sweeps_->ResumeAll());
    return Status::Ok();
  }

  // True when the request may go on; otherwise the reply is written. The steps are
  // route_access.h's.
  bool Authorize(const httplib::Request& request, httplib::Response& response) {
    const RouteRule* rule = FindRouteRule(request.method, request.path);
    if (rule != nullptr && rule->need == Need::kPublic) return true;
    const Result<Caller> caller =
        Authenticate(workspace_->store(), request.get_header_value("Authorization"));
    if (!caller.ok()) {
      ReplyError(response, caller.status());
      if (caller.status().code() == StatusCode::kUnauthenticated) {
        response.set_header("WWW-Authenticate", "Bearer realm=\"kiln\"");
      }
      return false;
    }
    requests_.SetCaller(request, *caller);
    if (rule == nullptr) {
      ReplyError(response, NotFoundError(fmt::format("no endpoint {} {}; see docs/openapi.yaml",
                                                     request.method, request.path)));
      return false;
    }
    if (Status allowed = CheckAccess(*rule, *caller, request.method, request.path); !allowed.ok()) {
      ReplyError(response, allowed);
      return false;
    }
    return true;
  }

  // The access log: one info line per request, written with its reply (docs/server.md,
  // "Access log"). Never a header: they hold the token's secret. Written by
  // httplib's worker thread after the reply, so its time is the request's whole stay.
  void LogAccess(const httplib::Request& request, const httplib::Response& response) {
    const std::optional<RequestContexts::Context> context = requests_.End(request);
    std::string token = "-";
    double milliseconds = 0;
    if (context) {
      if (context->caller) token = fmt::format("{:?}", context->caller->token_name);
      milliseconds = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                               context->arrived)
                         .count();
    }
    spdlog::info("access token={} method={} path={:?} status={} duration_ms={:.3f}", token,
                 request.method, request.path, response.status, milliseconds);
  }

  std::unique_ptr<http::Listener> listener_;
  httplib::Server* http_ = nullptr;  // listener_'s
  std::unique_ptr<client::Workspace> workspace_;
  std::unique_ptr<sweep::SweepHost> sweeps_;  // stops its drivers before workspace_ goes
  std::unique_ptr<ServerState> state_;
  RequestContexts requests_;
  std::atomic<bool> stopping_{false};
  int port_ = -1;
  std::string url_;
};

ApiServer::ApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ApiServer::~ApiServer() { Stop(); }

Result<std::unique_ptr<ApiServer>> ApiServer::Create(const ServerOptions& options) {
  auto impl = std::make_unique<Impl>();
  KILN_RETURN_IF_ERROR(impl->Open(options));
  return std::unique_ptr<ApiServer>(new ApiServer(std::move(impl)));
}

int ApiServer::port() const { return impl_->port_; }
const std::string& ApiServer::url() const { return impl_->url_; }

Status ApiServer::Serve() {
  if (impl_->stopping_) return Status::Ok();
  return impl_->listener_->Serve();
}

void ApiServer::Stop() {
  impl_->stopping_ = true;
  impl_->listener_->Stop();
}

}  // namespace kiln::server
