// /v1/runs: submit, list, show, edit, delete, status history, transitions (cancel,
// launchers' reports); /v1/gc.

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "client/cancel.h"
#include "client/gc.h"
#include "client/reconcile.h"
#include "client/run_edit.h"
#include "client/run_removal.h"
#include "client/submit.h"
#include "server/routes.h"
#include "spec/spec_json.h"
#include "spec/text_checks.h"
#include "spec/validate.h"
#include "store/record_json.h"
#include "store/wire.h"

namespace kiln::server {

using nlohmann::json;

// The job a client sent (client/remote_submit.h): its spec and where each field came from,
// checked by the same Validate as a job file, less the checks of the client's own files
// (its source_directory is on its machine; the entry script is checked against the
// snapshot instead). Nothing is made for a job that fails.
Result<spec::LoadedJob> ReceivedJob(const json& body) {
  if (!body.is_object() || !body.contains("spec") || !body["spec"].is_object()) {
    return InvalidArgumentError("the body needs 'spec': the job spec's JSON form");
  }
  Result<spec::JobSpec> spec = spec::SpecFromJson(body["spec"]);
  if (!spec.ok()) return InvalidArgumentError(fmt::format("spec: {}", spec.status().message()));
  std::string file = "job";
  std::set<std::string> fields;
  std::set<std::string> params;
  if (body.contains("source")) {
    const json& source = body["source"];
    try {
      file = source.value("file", file);
      fields = source.value("flag_fields", std::set<std::string>{});
      params = source.value("flag_params", std::set<std::string>{});
    } catch (const json::exception&) {
      return InvalidArgumentError(
          "source: expected {\"file\": string, \"flag_fields\": [...], \"flag_params\": [...]}");
    }
  }
  spec::LoadedJob job{std::move(spec).value(), spec::SpecSource(file, fields, params), {}};
  spec::ValidateOptions options;
  options.check_files = false;
  KILN_RETURN_IF_ERROR(spec::Validate(job.spec, job.source, options));
  return job;
}

// The snapshot a submit names, which the client sent before (POST /v1/snapshots).
Result<snapshot::SnapshotInfo> ReceivedSnapshot(const ServerState& state,
                                                const spec::LoadedJob& job, const std::string& id) {
  const Result<snapshot::Manifest> manifest = state.snapshots.ReadManifest(id);
  if (!manifest.ok()) {
    if (manifest.status().code() != StatusCode::kNotFound) return manifest.status();
    return InvalidArgumentError(
        fmt::format("snapshot {} is not on this server; send it first (POST /v1/snapshots)", id));
  }
  const bool has_entry = std::any_of(
      manifest->entries.begin(), manifest->entries.end(),
      [&](const snapshot::ManifestEntry& entry) { return entry.path == job.spec.entry_script; });
  if (!has_entry) {
    return InvalidArgumentError(fmt::format("{}: '{}' is not in snapshot {}",
                                            job.source.Where("entry_script"), job.spec.entry_script,
                                            id));
  }
  snapshot::SnapshotInfo info;
  info.id = id;
  info.file_count = manifest->file_count();
  info.total_bytes = manifest->total_bytes();
  return info;
}

namespace {

// A member of a request that must be text of one line; "" when it is absent.
Result<std::string> TextMember(const json& body, const char* name) {
  if (!body.contains(name)) return std::string();
  if (!body[name].is_string()) {
    return InvalidArgumentError(fmt::format("{}: expected a string", name));
  }
  const std::string text = body[name].get<std::string>();
  if (std::optional<std::string> problem = spec::TextProblem(text, spec::TextKind::kLine)) {
    return InvalidArgumentError(fmt::format("{}: {}", name, *problem));
  }
  return text;
}

Result<store::RunFilter> FilterOf(const httplib::Request& request) {
  store::RunFilter filter;
  if (request.has_param("experiment")) filter.experiment = request.get_param_value("experiment");
  if (request.has_param("status")) {
    const std::string text = request.get_param_value("status");
    filter.status = store::ParseRunStatus(text);
    if (!filter.status) {
      return InvalidArgumentError(
          fmt::format("query parameter status: '{}' is not a run status", text));
    }
  }
  if (request.has_param("parent")) filter.parent_id = request.get_param_value("parent");
  filter.top_level = request.get_param_value("top_level") == "true";
  filter.only_active = request.get_param_value("active") == "true";
  KILN_ASSIGN_OR_RETURN(const std::int64_t limit, QueryInt(request, "limit", 0, 0));
  filter.limit = static_cast<int>(std::min<std::int64_t>(limit, std::numeric_limits<int>::max()));
  if (request.has_param("after")) {
    KILN_ASSIGN_OR_RETURN(filter.after,
                          store::wire::RunPositionFromText(request.get_param_value("after")));
  }
  filter.where = request.get_param_value("where");
  // Archived runs are left out unless asked for.
  filter.archived = store::ArchivedRuns::kHidden;
  if (request.has_param("archived")) {
    KILN_ASSIGN_OR_RETURN(filter.archived,
                          store::wire::ParseArchivedRuns(request.get_param_value("archived")));
  }
  return filter;
}

// {name: last value} of the run's rank-0 scalars, for the runs list's metric columns.
Result<json> LatestMetrics(store::Store& store, const std::string& run_id) {
  KILN_ASSIGN_OR_RETURN(const std::vector<store::MetricSummary> metrics, store.ListMetrics(run_id));
  json out = json::object();
  for (const store::MetricSummary& metric : metrics) {
    if (metric.rank == 0 && metric.last) out[metric.name] = store::wire::NumberToJson(*metric.last);
  }
  return out;
}

}  // namespace

void AddRunRoutes(http::Listener& server, ServerState& state) {
  client::Workspace& workspace = state.workspace;

  server.Post("/v1/runs",
              Json(
                  [&](const httplib::Request& request) -> Result<json> {
                    KILN_ASSIGN_OR_RETURN(const json body, BodyJson(request));
                    KILN_ASSIGN_OR_RETURN(const spec::LoadedJob job, ReceivedJob(body));
                    KILN_ASSIGN_OR_RETURN(const std::string id, TextMember(body, "snapshot_id"));
                    KILN_ASSIGN_OR_RETURN(const Caller caller, CallerOf(state, request));
                    KILN_ASSIGN_OR_RETURN(
                        const client::SubmitResult submitted,
                        client::SubmitWith(
                            workspace, job, [&] { return ReceivedSnapshot(state, job, id); },
                            caller.token_name));
                    return store::ToJson(submitted.run);
                  },
                  201));

  server.Get("/v1/runs", Json([&](const httplib::Request& request) -> Result<json> {
               KILN_ASSIGN_OR_RETURN(const store::RunFilter filter, FilterOf(request));
               KILN_ASSIGN_OR_RETURN(const std::vector<store::Run> runs,
                                     client::ReadRuns(workspace, filter));
               json out = JsonList("runs", runs);
               // A full page may have more after it; a short one is the last.
               if (filter.limit > 0 && runs.size() == static_cast<std::size_t>(filter.limit)) {
                 out["next_cursor"] =
                     store::wire::RunPositionText({runs.back().created_at, runs.back().id});
               }
               if (request.get_param_value("metrics") == "true") {
                 for (std::size_t i = 0; i < runs.size(); ++i) {
                   KILN_ASSIGN_OR_RETURN(out["runs"][i]["metrics"],
                                         LatestMetrics(workspace.store(), runs[i].id));
                 }
               }
               return out;
             }));

  server.Get(R"(/v1/runs/([^/]+))", Json([&](const httplib::Request& request) -> Result<json> {
               // A launcher polls its own run (for a cancel) with its run token: it is alive,
               // so the stored record is the answer, and reconciling would only cost a probe
               // of the compute target (for Slurm, a call to slurmctld) on every poll.
               KILN_ASSIGN_OR_RETURN(const Caller caller, CallerOf(state, request));
               const std::string id = request.matches[1].str();
               if (caller.run_id && *caller.run_id == id) {
                 KILN_ASSIGN_OR_RETURN(const store::Run run, workspace.store().GetRun(id));
                 return store::ToJson(run);
               }
               KILN_ASSIGN_OR_RETURN(const store::Run run, client::ReadRun(workspace, id));
               return store::ToJson(run);
             }));

  server.Patch(R"(/v1/runs/([^/]+))", Json([&](const httplib::Request& request) -> Result<json> {
                 KILN_ASSIGN_OR_RETURN(const json body, BodyJson(request));
                 KILN_ASSIGN_OR_RETURN(const store::RunEdit edit,
                                       store::wire::RunEditFromJson(body));
                 KILN_ASSIGN_OR_RETURN(const store::Run run,
                                       client::EditRun(workspace, request.matches[1].str(), edit));
                 return store::ToJson(run);
               }));

  // The records, then the folders on this machine (client/run_removal.h).
  server.Delete(R"(/v1/runs/([^/]+))", Json([&](const httplib::Request& request) -> Result<json> {
                  KILN_ASSIGN_OR_RETURN(const std::vector<client::DeletedRun> deleted,
                                        client::DeleteRun(workspace, request.matches[1].str()));
                  json runs = json::array();
                  for (const client::DeletedRun& one : deleted) {
                    json entry = store::ToJson(one.run);
                    // Why its folder stayed on the server's machine; null when it went.
                    entry["folder_kept"] =
                        one.folder_kept.empty() ? json(nullptr) : json(one.folder_kept);
                    runs.push_back(std::move(entry));
                  }
                  return json{{"deleted", runs}};
                }));

  server.Post("/v1/gc", Json([&](const httplib::Request& request) -> Result<json> {
                KILN_ASSIGN_OR_RETURN(const json body, BodyJson(request));
                KILN_ASSIGN_OR_RETURN(const client::GcOptions options,
                                      client::GcOptionsFromJson(body));
                KILN_ASSIGN_OR_RETURN(const client::GcReport report,
                                      client::CollectGarbage(workspace, options));
                return client::GcReportToJson(report);
              }));

  server.Get(R"(/v1/runs/([^/]+)/history)",
             Json([&](const httplib::Request& request) -> Result<json> {
               KILN_ASSIGN_OR_RETURN(const std::vector<store::StatusChange> history,
                                     workspace.store().GetStatusHistory(request.matches[1].str()));
               return JsonList("history", history);
             }));

  server.Get(R"(/v1/runs/([^/]+)/trials)",
             Json([&](const httplib::Request& request) -> Result<json> {
               KILN_ASSIGN_OR_RETURN(const std::vector<store::Trial> trials,
                                     workspace.store().ListTrials(request.matches[1].str()));
               return JsonList("trials", trials);
             }));

  // A user's token may ask for a cancel; every other move is a launcher's report, made with
  // its run token (route_access.h has already kept other runs' tokens out).
  server.Post(
      R"(/v1/runs/([^/]+)/transitions)", Json([&](const httplib::Request& request) -> Result<json> {
        KILN_ASSIGN_OR_RETURN(const json body, BodyJson(request));
        KILN_ASSIGN_OR_RETURN(const store::Transition transition,
                              store::wire::TransitionFromJson(body));
        KILN_ASSIGN_OR_RETURN(const Caller caller, CallerOf(state, request));
        if (!caller.run_id && transition.to != store::RunStatus::kCancelRequested) {
          return PermissionDeniedError(
              fmt::format("a user token may only request CancelRequested (kiln cancel); {} is "
                          "reported by the run's own launcher token",
                          store::RunStatusName(transition.to)));
        }
        KILN_ASSIGN_OR_RETURN(const store::Run run, workspace.store().TransitionRun(
                                                        request.matches[1].str(), transition));
        if (transition.to == store::RunStatus::kCancelRequested) {
          KILN_RETURN_IF_ERROR(client::TellTargetOfCancel(workspace, run));
        }
        return store::ToJson(run);
      }));
}

}  // namespace kiln::server
