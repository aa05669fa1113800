#pragma once

// The server's routes, by resource, and what they share. Internal to server/.

#include <httplib.h>

#include <atomic>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/workspace.h"
#include "common/result.h"
#include "http/listener.h"
#include "server/auth.h"
#include "server/request_contexts.h"
#include "snapshot/snapshot_store.h"
#include "spec/spec_loader.h"
#include "store/record_json.h"
#include "sweep/sweep_host.h"

namespace kiln::server {

struct ServerState {
  client::Workspace& workspace;
  snapshot::SnapshotStore snapshots;
  sweep::SweepHost& sweeps;  // the sweeps this server drives
  std::atomic<bool>& stopping;
  RequestContexts& requests;
};

// Who sent `request`: set before any route runs on every route that needs a token (all but
// the health check). Internal when missing, which would be a bug of the server's own.
Result<Caller> CallerOf(const ServerState& state, const httplib::Request& request);

// The HTTP status for a Status code.
int HttpStatusFor(StatusCode code);
// Writes {"error": {"code": "NOT_FOUND", "message": "..."}} with the matching status.
void ReplyError(httplib::Response& response, const Status& status);
void ReplyJson(httplib::Response& response, const nlohmann::json& body, int status = 200);

// A handler whose result is the JSON reply (or an error reply).
using JsonHandler = std::function<Result<nlohmann::json>(const httplib::Request&)>;
httplib::Server::Handler Json(JsonHandler handler, int ok_status = 200);

// {key: [ToJson(item)...]}, the shape of every list the API returns.
template <typename T>
nlohmann::json JsonList(std::string_view key, const std::vector<T>& items) {
  nlohmann::json out = nlohmann::json::array();
  for (const T& item : items) out.push_back(store::ToJson(item));
  return nlohmann::json{{std::string(key), std::move(out)}};
}

// The request body as JSON; InvalidArgument saying where it breaks.
Result<nlohmann::json> BodyJson(const httplib::Request& request);
// A query parameter as an integer, `fallback` when absent; InvalidArgument naming it.
Result<std::int64_t> QueryInt(const httplib::Request& request, const std::string& name,
                              std::int64_t fallback, std::int64_t min_value);

// A query parameter as a finite number, unset when absent; InvalidArgument naming it.
Result<std::optional<double>> QueryNumber(const httplib::Request& request, const std::string& name);

// The rank in path segment `index` of the route's pattern; InvalidArgument past int range.
Result<int> PathRank(const httplib::Request& request, std::size_t index);

// What a submit sent (POST /v1/runs, POST /v1/sweeps): the job from {"spec", "source"},
// checked by spec::Validate less the client's own files; the snapshot `id` names, which
// the client sent first and which must hold the job's entry script.
Result<spec::LoadedJob> ReceivedJob(const nlohmann::json& body);
Result<snapshot::SnapshotInfo> ReceivedSnapshot(const ServerState& state,
                                                const spec::LoadedJob& job, const std::string& id);

void AddRunRoutes(http::Listener& server, ServerState& state);
void AddSweepRoutes(http::Listener& server, ServerState& state);  // submit, resume
void AddMetricRoutes(http::Listener& server, ServerState& state);
void AddFileRoutes(http::Listener& server, ServerState& state);         // logs, artifacts
void AddModelRoutes(http::Listener& server, ServerState& state);        // the model registry
void AddEnvironmentRoutes(http::Listener& server, ServerState& state);  // registered envs
void AddCatalogRoutes(http::Listener& server, ServerState& state);      // the rest
void AddTokenRoutes(http::Listener& server, ServerState& state);        // /v1/token(s)
void AddUiRoutes(http::Listener& server);                               // Kiln Studio at /
// Every reply's security headers (docs/ui.md): nosniff, no framing, and a policy that lets
// nothing run but the UI's own page.
void SetSecurityHeaders(httplib::Server& server);

}  // namespace kiln::server
